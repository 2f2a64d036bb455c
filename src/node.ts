// Composition root: config -> TCP peer transport -> Chord node -> API server.
// start() binds the peer port, creates or joins a ring, and only then opens
// the API (a client that can connect can use it at once). stop() leaves
// gracefully (handover) and is idempotent; crash() stops without handover.
// `closed` settles once the node has stopped. With `data_dir`, records are kept
// in LMDB (persist/lmdb-records.ts): opened before any port is bound, read
// back before the node joins, closed after it stopped.

import { collectDefaultMetrics, Registry } from "prom-client";
import { NodeMetrics } from "./admin/metrics.js";
import { RING_PAGE } from "./admin/page.js";
import {
  estimateRingSize,
  type NodeStatus,
  nodeStatus,
  type Readiness,
  readiness,
} from "./admin/status.js";
import { type ChordDeps, ChordNode } from "./chord/chord-node.js";
import { Misbehaviour } from "./chord/misbehaviour.js";
import { CHORD_DEFAULTS, type ChordOptions } from "./chord/options.js";
import type { Config } from "./config/config.js";
import type { Logger } from "./log.js";
import { type Address, formatAddress } from "./net/address.js";
import { AdminServer } from "./net/admin-server.js";
import { ApiServer, type ApiTuning } from "./net/api-server.js";
import type { LocalExchange } from "./net/local-exchange.js";
import { TcpTransport, type TcpTransportOptions } from "./net/tcp-transport.js";
import type { Durability, LmdbRecords } from "./persist/lmdb-records.js";
import { type Clock, type Dht, type PeerGuard, systemClock } from "./ports.js";
import { nodeIdOf, shortId } from "./ring/id.js";
import { isLoopbackIp } from "./ring/ip-group.js";
import { VERSION } from "./version.js";

export interface NodeDeps {
  log: Logger;
  clock?: Clock;
  random?: () => number;
  /** Peer transport limits beyond the configuration (tests and benchmarks of the limits). */
  peerLimits?: Pick<
    TcpTransportOptions,
    "inputBudgetBytes" | "frameDeadlineMs" | "rate" | "maxConnections"
  >;
  /** API deadlines other than the defaults (tests, benchmarks). */
  api?: ApiTuning;
  /** Nodes of this process reached in memory, not over TCP (a testnet's; local-exchange.ts). */
  exchange?: LocalExchange;
  /**
   * Keep Prometheus metrics (default true). A testnet without an admin endpoint
   * turns them off: a registry costs about 11 KiB per node.
   */
  metrics?: boolean;
  /** Also export the process's own metrics (CPU, memory, event loop): one node per process only. */
  processMetrics?: boolean;
  /** How durable an acknowledged record is with `data_dir` (persist/lmdb-records.ts; benchmarks). */
  durability?: Durability;
}

const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", ""]);

/** The Chord tunables a config implies: one cadence knob, the rest derived from it. */
export function chordOptions(config: Config): ChordOptions {
  const ms = config.stabilizeIntervalMs;
  return {
    ...CHORD_DEFAULTS,
    defaultStoreSeconds: config.defaultStoreSeconds,
    maxStoreSeconds: config.maxStoreSeconds,
    replication: config.replication,
    storeQuotaBytes: config.storeQuotaBytes,
    successorListLength: config.successorListLength,
    stabilizeMs: ms,
    fixFingersMs: Math.max(ms / 2, 5),
    checkPredecessorMs: ms * 2,
    antiEntropyMs: ms * 2,
    pauseThresholdMs: Math.max(ms * 4, 2000),
    powBits: config.powDifficulty,
    maxIdsPerIp: config.maxIdsPerIp,
    limitLoopback: config.limitLoopback,
  };
}

/**
 * Misbehaviour scoring as the transport and the Chord node see it. Loopback
 * peers are the same machine: never scored unless `limit_loopback` is set.
 */
function peerGuard(scores: Misbehaviour, limitLoopback: boolean): PeerGuard {
  // Asked on every admission check and inbound call: remembered per IP (bounded).
  const loopback = new Map<string, boolean>();
  const exempt = (ip: string) => {
    if (limitLoopback) return false;
    let is = loopback.get(ip);
    if (is === undefined) {
      if (loopback.size >= 4096) loopback.clear();
      is = isLoopbackIp(ip);
      loopback.set(ip, is);
    }
    return is;
  };
  return {
    banned: (ip) => !exempt(ip) && scores.banned(ip),
    report: (ip, offence, detail) => {
      if (!exempt(ip)) scores.report(ip, offence, detail);
    },
  };
}

export class RingDhtNode {
  private stopping: Promise<void> | undefined;
  private resolveClosed!: (reason: string) => void;
  /** Settles with the reason once the node has stopped. */
  readonly closed = new Promise<string>((resolve) => {
    this.resolveClosed = resolve;
  });
  private bound: Address | undefined;
  private admin: AdminServer | undefined;
  private readonly startedAt: number;
  /** API requests this node served (the testnet's summaries). */
  readonly served = { puts: 0, gets: 0 };

  private constructor(
    readonly chord: ChordNode,
    private readonly api: ApiServer,
    private readonly log: Logger,
    /** Misbehaviour scores and current bans of peer IPs. */
    readonly scores: Misbehaviour,
    readonly transport: TcpTransport,
    /** This node's Prometheus metrics (its own registry), unless turned off. */
    readonly metrics: NodeMetrics | undefined,
    private readonly clock: Clock,
    private readonly persist: LmdbRecords | undefined,
  ) {
    this.startedAt = clock.now();
  }

  static async start(config: Config, deps: NodeDeps): Promise<RingDhtNode> {
    const clock = deps.clock ?? systemClock;
    // A data folder that cannot be used fails before any port is bound. LMDB's native
    // module is loaded only when there is one.
    const persist =
      config.dataDir === undefined
        ? undefined
        : (await import("./persist/lmdb-records.js")).LmdbRecords.open(
            config.dataDir,
            deps.durability,
          );
    try {
      return await RingDhtNode.assemble(config, deps, clock, persist);
    } catch (err) {
      await persist?.close();
      throw err;
    }
  }

  private static async assemble(
    config: Config,
    deps: NodeDeps,
    clock: Clock,
    persist: LmdbRecords | undefined,
  ): Promise<RingDhtNode> {
    let chord: ChordNode | undefined;
    let metrics: NodeMetrics | undefined;
    const scores = new Misbehaviour({}, clock, (ban) => {
      deps.log.warn({ ...ban }, "peer banned");
      metrics?.banned();
      chord?.evict(ban.ip);
    });
    const guard = peerGuard(scores, config.limitLoopback);
    const transport = new TcpTransport(
      { log: deps.log },
      {
        listen: config.p2pAddress,
        guard,
        maxConnectionsPerIp: config.maxPeerConnectionsPerIp,
        limitLoopback: config.limitLoopback,
        ...deps.peerLimits,
        ...(deps.exchange === undefined ? {} : { exchange: deps.exchange }),
      },
    );
    await transport.listen();
    const short = shortId(nodeIdOf(transport.address));
    const log = deps.log.child({ node: short });
    metrics =
      deps.metrics === false
        ? undefined
        : new NodeMetrics(short, {
            records: () => ({ count: chord!.data.store.size, bytes: chord!.data.store.bytes }),
            apiConnections: () => api.connectionCount,
            peerConnections: () => {
              const s = transport.stats;
              return { inbound: s.openInbound, outbound: s.openOutbound };
            },
            bannedGroups: () => scores.bans().length,
            ready: () => readiness(chord!).ready,
            estimatedRingSize: () =>
              estimateRingSize(
                chord!.self.id,
                chord!.table.successors.map((p) => p.id),
              ),
            successors: () => chord!.table.successors.length,
          });
    if (deps.processMetrics === true && metrics !== undefined)
      collectDefaultMetrics({ register: metrics.registry });
    const chordDeps: ChordDeps = {
      transport,
      clock,
      random: deps.random ?? Math.random,
      log,
      guard,
      observer: metrics,
      ...(persist === undefined ? {} : { persist }),
    };
    chord = new ChordNode(chordDeps, chordOptions(config));
    if (persist !== undefined) {
      const began = performance.now();
      let kept: number;
      try {
        kept = chord.restore(persist.load(clock.now()));
      } catch (err) {
        await chord.stop();
        throw err;
      }
      log.info(
        {
          dataDir: persist.dir,
          records: kept,
          expired: persist.stats.expired,
          ms: Math.round(performance.now() - began),
        },
        "records loaded",
      );
    }
    log.info({ p2p: transport.address, id: chord.self.id }, "peer port listening");
    const dht: Dht = {
      put: (req) => {
        node.served.puts++;
        return chord.put(req);
      },
      get: (key) => {
        node.served.gets++;
        return chord.get(key);
      },
      shutdown: (why) => void node.stop(why),
    };
    const api = new ApiServer(
      { dht, log, observer: metrics },
      {
        address: config.apiAddress,
        maxInflightPerConnection: config.apiMaxInflight,
        maxConnections: config.maxApiConnections,
        allowRemoteShutdown: config.allowRemoteShutdown,
        ...deps.api,
      },
    );
    const node = new RingDhtNode(chord, api, log, scores, transport, metrics, clock, persist);
    const self = node;
    try {
      if (config.httpAddress !== undefined) {
        const admin = new AdminServer(
          {
            log,
            handlers: {
              page: RING_PAGE,
              status: (which) =>
                which === null || which === self.p2pAddress ? self.status() : undefined,
              ring: () => ({ source: "node", nodes: [self.status()] }),
              metrics: async () => {
                const registry = self.metrics?.registry ?? new Registry();
                return { contentType: registry.contentType, body: await registry.metrics() };
              },
              ready: () => self.readiness(),
            },
          },
          { address: config.httpAddress },
        );
        node.admin = admin;
        const bound = await admin.listen();
        const host = WILDCARD_HOSTS.has(bound.host)
          ? (parseHost(chord.self.addr) ?? bound.host)
          : bound.host;
        chord.news.advertised = formatAddress({ host, port: bound.port });
        log.info({ http: formatAddress(bound) }, "admin endpoint listening");
      }
      await chord.start(config.bootstrappers.map(formatAddress));
      node.bound = await api.listen();
    } catch (err) {
      await chord.stop();
      await api.close();
      await node.admin?.close();
      throw err;
    }
    log.info({ api: formatAddress(node.bound) }, "API listening");
    return node;
  }

  /** The API address actually bound (the configured port, or the one picked for 0). */
  get apiAddress(): Address {
    if (this.bound === undefined) throw new Error("node not started");
    return this.bound;
  }

  /** The admin endpoint's bound address, if it serves one. */
  get httpAddress(): Address | undefined {
    return this.admin?.address;
  }

  /** The node's status as /status serves it (admin/status.ts). */
  status(): NodeStatus {
    return nodeStatus(this.chord, {
      version: VERSION,
      startedAt: this.startedAt,
      now: this.clock.now(),
      api: this.bound === undefined ? undefined : formatAddress(this.bound),
      http: this.chord.news.advertised,
      bans: this.scores.bans(),
      scores: this.scores.scores(),
    });
  }

  /** Whether the node is joined and serving (/readyz), and if not why. */
  readiness(): Readiness {
    return readiness(this.chord);
  }

  /** The P2P address peers use to reach this node. */
  get p2pAddress(): string {
    return this.chord.self.addr;
  }

  /** Whether stop() or crash() was called. */
  get stopped(): boolean {
    return this.stopping !== undefined;
  }

  /** Leaves gracefully: API closed, data handed over, neighbours told. Idempotent. */
  stop(reason: string): Promise<void> {
    this.stopping ??= this.finish(reason, () => this.chord.leave());
    return this.stopping;
  }

  /** Stops without handing anything over, as a crash would (tests, testnet). */
  crash(): Promise<void> {
    this.stopping ??= this.finish("crash", () => this.chord.stop());
    return this.stopping;
  }

  private async finish(reason: string, leave: () => Promise<void>): Promise<void> {
    this.log.info({ reason }, "leaving");
    await this.api.close();
    await leave();
    await this.admin?.close();
    await this.persist?.close();
    this.log.info("stopped");
    this.resolveClosed(reason);
  }
}

/** The host of a "host:port" P2P address (IPv6 without brackets). */
function parseHost(addr: string): string | undefined {
  const at = addr.lastIndexOf(":");
  return at <= 0 ? undefined : addr.slice(0, at).replace(/^\[|\]$/g, "");
}
