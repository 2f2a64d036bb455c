// One Chord node: lifecycle, join, and the peer handlers, over
// the PeerTransport and Clock ports. The parts, each with its own policy:
// stabilizer.ts (ring maintenance), entry.ts (client PUT/GET), data-plane.ts
// (records and the owner's writes), anti-entropy.ts (replicas converge),
// handoff.ts (stranded records), unify.ts (merging rings after a partition),
// pause-watch.ts (catching up after a pause), join.ts (joining through any member),
// lookup.ts (GetNode, and the lookups this node starts, which check their answers),
// handlers.ts (what peers ask of us), neighbour-news.ts (admin addresses, graceful leaves).
// peer-calls.ts (calls to peers: a failed call removes the peer from every table
// at once, routed around, and remembers it as lost).

import type { Logger } from "../log.js";
import {
  type Clock,
  type NodeObserver,
  noObserver,
  type Offence,
  type PeerCaller,
  type PeerGuard,
  type PeerTransport,
  type PutRequest,
  type RecordPersistence,
} from "../ports.js";
import { RingDirectory } from "../ring/directory.js";
import type { Id } from "../ring/id.js";
import { type Peer, peerAt, RoutingTable } from "../ring/routing-table.js";
import type { WireRecord } from "../wire/peer.js";
import { Admission } from "./admission.js";
import { AntiEntropy } from "./anti-entropy.js";
import { AE_MAX_CALM } from "./calm.js";
import { DataPlane } from "./data-plane.js";
import { Departures } from "./departures.js";
import { EntryPath, type Lookup } from "./entry.js";
import { type NodeState, peerHandlers } from "./handlers.js";
import { Handoff } from "./handoff.js";
import { Joiner } from "./join.js";
import { type LookupStats, Lookups } from "./lookup.js";
import { NeighbourNews } from "./neighbour-news.js";
import type { ChordOptions } from "./options.js";
import { PauseWatch } from "./pause-watch.js";
import { PeerCalls } from "./peer-calls.js";
import { PeerGate } from "./peer-gate.js";
import { Stabilizer } from "./stabilizer.js";
import { Unifier } from "./unify.js";
import { Upkeep } from "./upkeep.js";

/** Nodes the location cache remembers. */
const DIRECTORY_CAPACITY = 8192;
/** How many rounds of anti-entropy over a replica set (at the calmest cadence) an owner's confirmation lasts. */
const SERVE_WINDOW_ROUNDS = 3;

export interface ChordDeps {
  transport: PeerTransport;
  clock: Clock;
  random: () => number;
  log: Logger;
  /** Misbehaviour scoring: offences found by the protocol logic are reported here. */
  guard?: PeerGuard;
  /** Unpredictable bytes (admission challenges); default crypto's. A simulation seeds them. */
  randomBytes?: (n: number) => Buffer;
  /** Metrics hooks (peer calls, lookups, repair traffic). */
  observer?: NodeObserver;
  /** Where records are kept across restarts (`data_dir`); none: memory only. */
  persist?: RecordPersistence;
}

export type ChordStats = LookupStats;

export class ChordNode {
  readonly table: RoutingTable;
  readonly data: DataPlane;
  readonly ae: AntiEntropy;
  readonly unifier: Unifier;
  readonly handoff: Handoff;
  readonly admission: Admission;
  readonly gate: PeerGate;
  /** GetNode, and the checked lookups this node starts. */
  readonly lookups: Lookups;
  /** Every node heard of: owner guesses that skip the GetNode lookup when right. */
  private readonly directory = new RingDirectory(DIRECTORY_CAPACITY);
  private readonly stabilizer: Stabilizer;
  private readonly entry: EntryPath;
  private readonly pauseWatch: PauseWatch;
  private readonly joiner: Joiner;
  readonly stats: ChordStats;
  private readonly upkeep: Upkeep;
  /** Calls to peers; their failures route around the peer (peer-calls.ts). */
  private readonly calls: PeerCalls;
  private phase: NodeState = "new";
  private readonly observer: NodeObserver;
  /** Peers that announced a graceful leave: a later failed call to one is no failure. */
  readonly departures: Departures;
  /** What neighbours tell us beyond the ring: admin addresses, leaves (neighbour-news.ts). */
  readonly news: NeighbourNews;

  constructor(
    private readonly deps: ChordDeps,
    private readonly opts: ChordOptions,
  ) {
    const { clock, log } = deps;
    this.observer = deps.observer ?? noObserver;
    this.departures = new Departures(clock);
    const table = new RoutingTable(peerAt(deps.transport.address), opts.successorListLength);
    this.table = table;
    this.directory.add(table.self);
    this.news = new NeighbourNews(
      {
        log,
        table,
        directory: this.directory,
        departures: this.departures,
        transport: deps.transport,
        peerLeft: (p) => this.calls.peerLeft(p),
      },
      opts,
    );
    this.calls = new PeerCalls({
      transport: deps.transport,
      log,
      observer: this.observer,
      table,
      directory: this.directory,
      departures: this.departures,
      vouch: (addr) => this.gate.vouch(addr),
      neighbours: (peer, res) => this.news.fromReply(peer, res),
      lost: (peer) => {
        this.unifier.noteLost(peer);
        this.upkeep.lostNoted();
      },
      forgetSyncs: () => this.ae.forgetSyncs(),
      ringChanged: () => this.ringChanged(),
    });
    const call = this.calls.call;
    // Alone after losing every peer is cut off, not a network of one: it owns nothing.
    const owns = (pos: Id) =>
      table.owns(pos) &&
      (table.alone ? this.unifier.lostCount === 0 : this.stabilizer.predConfirmed);
    const directory = this.directory;
    const report = (from: PeerCaller, o: Offence, detail: string) => this.report(from, o, detail);
    const lookup = (pos: Id) => this.lookup(pos);
    const ping = (p: Peer) => call(p, "ping", {}, opts.rpcTimeoutMs);
    // Membership checks of record senders ask the ring directly (a plain GetNode): they do
    // their own checking through the neighbours, and run while the ring is in flux.
    const ask = (pos: Id) => this.lookups.step(pos, 0);
    this.data = new DataPlane(
      {
        clock,
        log,
        table,
        call,
        owns,
        directory,
        lookup: ask,
        report,
        observer: this.observer,
        persist: deps.persist,
      },
      opts,
    );
    this.gate = new PeerGate(
      {
        clock,
        table,
        banned: (ip) => deps.guard?.banned(ip) ?? false,
        ping,
      },
      opts,
    );
    const gate = this.gate;
    this.admission = new Admission(
      {
        clock,
        call,
        self: () => table.self.addr,
        ...(deps.randomBytes === undefined ? {} : { randomBytes: deps.randomBytes }),
      },
      opts.powBits,
      opts.rpcTimeoutMs,
    );
    const data = this.data;
    this.lookups = new Lookups({ clock, log, table, directory, call, guard: deps.guard }, opts);
    this.stats = this.lookups.stats;
    this.ae = new AntiEntropy({ clock, log, table, call, data }, opts);
    this.handoff = new Handoff(
      { clock, log, table, directory, data, ae: this.ae, lookup, ping },
      opts,
    );
    this.entry = new EntryPath(
      {
        clock,
        log,
        table,
        data,
        call,
        lookup,
        directory: this.directory,
        serves: this.serves,
        cutOff: () => table.alone && this.unifier.lostCount > 0,
      },
      opts,
    );
    this.stabilizer = new Stabilizer(
      {
        log,
        now: () => clock.now(),
        table,
        directory: this.directory,
        call,
        notify: this.notify,
        gate,
        resolve: lookup,
        onReplicasChanged: () => this.ringChanged(),
        onRangeGrew: () => this.ringChanged(),
        onRangeShrank: (lo, hi) => this.ae.confirm(lo, hi),
      },
      opts,
    );
    this.unifier = new Unifier(
      {
        clock,
        log,
        table,
        call,
        considerSuccessor: (p) => this.stabilizer.considerSuccessor(p),
        notify: this.notify,
        rectify: (p) => this.stabilizer.rectify(p),
        found: (p) => this.directory.add(p),
      },
      opts,
    );
    this.joiner = new Joiner(
      {
        transport: deps.transport,
        clock,
        random: deps.random,
        log,
        table,
        call,
        stabilizer: this.stabilizer,
        admission: this.admission,
        gate,
      },
      opts,
    );
    this.pauseWatch = new PauseWatch(clock, opts.pauseThresholdMs, (ms) => this.onPaused(ms));
    this.upkeep = new Upkeep(deps, opts, {
      stabilizer: this.stabilizer,
      ae: this.ae,
      unifier: this.unifier,
      handoff: this.handoff,
      data: this.data,
    });
  }

  get self(): Peer {
    return this.table.self;
  }

  get running(): boolean {
    return this.phase === "running";
  }

  /**
   * Records kept from before a restart (call before start()). The ring may have
   * moved on meanwhile, so the node holds them as one that comes back after a
   * pause: not fresh (never answering as owner) until anti-entropy with its
   * replicas has run; anti-entropy and the handoff move them to their owners.
   * Returns how many were kept.
   */
  restore(entries: Iterable<{ key: Buffer; rec: WireRecord }>): number {
    const kept = this.data.restore(entries);
    if (kept > 0) this.data.fresh = false;
    return kept;
  }

  /** Serves peers, then creates a ring (no bootstrappers) or joins one. */
  async start(bootstrappers: readonly string[]): Promise<void> {
    this.phase = "joining";
    await this.deps.transport.serve(
      peerHandlers({
        table: this.table,
        stabilizer: this.stabilizer,
        joiner: this.joiner,
        data: this.data,
        ae: this.ae,
        unifier: this.unifier,
        admission: this.admission,
        gate: this.gate,
        state: () => this.phase,
        resolve: (pos, hops) => this.lookups.step(pos, hops),
        serves: this.serves,
        report: (from, o, detail) => this.report(from, o, detail),
        wake: () => this.upkeep.successorNews(),
        left: (p) => this.calls.peerLeft(p),
        heard: (addr) => this.departures.forget(addr),
        http: () => this.news.advertised,
        departed: () => this.news.recentLeaves(),
        served: (name, ok) => this.observer.peerServed(name, ok),
      }),
    );
    const others = bootstrappers.filter((b) => b !== this.self.addr);
    if (others.length === 0) this.deps.log.info("started a new network");
    else {
      // Not fresh until the first anti-entropy round after joining has succeeded.
      this.data.fresh = false;
      await this.joiner.join(others, () => this.phase === "joining");
    }
    if (this.phase !== "joining") return;
    this.phase = "running";
    this.upkeep.start();
    this.pauseWatch.start();
    this.ringChanged();
  }

  put(req: PutRequest): Promise<void> {
    return this.entry.put(req);
  }

  get(key: Buffer): Promise<Buffer | undefined> {
    return this.entry.get(key);
  }

  /** The node responsible for ring position `pos`, checked (lookup.ts). */
  async lookup(pos: Id): Promise<Lookup> {
    const found = await this.lookups.lookup(pos);
    this.observer.lookupHops(found.hops);
    return found;
  }

  /** The node's state as plain data (admin status, readiness). */
  get state(): NodeState {
    return this.phase;
  }

  /** The tunables this node runs with. */
  get options(): Readonly<ChordOptions> {
    return this.opts;
  }

  /** Upkeep facts for the admin status: predecessor confirmed, lost peers, finger passes, cut off, pace. */
  get upkeepView(): {
    /** How many times slower than its base periods upkeep runs now (1: the ring around it changes). */
    pace: number;
    predecessorConfirmed: boolean;
    lostPeers: number;
    fingerPasses: number;
    cutOff: boolean;
  } {
    return {
      pace: this.upkeep.calm.factor,
      predecessorConfirmed: this.stabilizer.predConfirmed,
      lostPeers: this.unifier.lostCount,
      fingerPasses: this.stabilizer.fingerPasses,
      cutOff: this.table.alone && this.unifier.lostCount > 0,
    };
  }

  /** Graceful leave: hand everything to the successor, relink the neighbours, close. */
  async leave(): Promise<void> {
    if (this.phase === "stopped") return;
    const wasRunning = this.phase === "running";
    this.halt();
    if (wasRunning && !this.table.alone) {
      const handed = await this.data.handOverAll().catch((err: Error) => {
        this.deps.log.error({ reason: err.message }, "handover failed");
        return 0;
      });
      this.deps.log.info(
        { records: handed, to: this.table.successor().addr },
        "handed over records",
      );
      await this.news.tellLeave();
    }
    await this.deps.transport.close();
  }

  /** Stops at once, without handover (a crash, as far as the ring can tell). */
  async stop(): Promise<void> {
    this.halt();
    await this.deps.transport.close();
  }

  private halt(): void {
    this.phase = "stopped";
    this.upkeep.stop();
    this.pauseWatch.stop();
    this.data.stop();
  }

  /** The replica set or the owned range changed (upkeep.ts). */
  private ringChanged(): void {
    if (this.phase === "running") this.upkeep.ringChanged();
  }

  /** Timers ran late: the process was stopped or starved. Catch up before acting as owner. */
  private onPaused(ms: number): void {
    this.deps.log.warn({ pausedMs: ms }, "this node was paused; catching up before serving");
    this.data.fresh = false;
    this.ae.forgetSyncs();
    this.ringChanged();
  }

  /** Whether an owner's anti-entropy confirmed recently that we replicate `pos`. */
  private readonly serves = (pos: Id): boolean =>
    this.ae.serves(
      pos,
      SERVE_WINDOW_ROUNDS * AE_MAX_CALM * this.opts.antiEntropyMs * this.opts.replication,
    );

  /** Notify, getting admitted by proof-of-work first when the successor asks for it. */
  private readonly notify = async (succ: Peer): Promise<void> => {
    await this.admission.withAdmission(succ, () =>
      this.calls.call(succ, "notify", {}, this.opts.rpcTimeoutMs),
    );
  };

  /** An IP was banned: its nodes leave the routing table and the location cache. */
  evict(ip: string): void {
    for (const p of this.gate.evict(ip)) {
      this.directory.remove(p.id);
      this.deps.log.warn({ peer: p.addr }, "banned peer dropped from the routing table");
    }
    this.ringChanged();
  }

  private report(from: PeerCaller, offence: Offence, detail: string): void {
    this.deps.guard?.report(from.ip, offence, detail);
    this.deps.log.warn({ peer: from.addr, offence, detail }, "peer misbehaved");
  }
}
