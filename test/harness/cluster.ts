// A ring of real `ringdht node` processes on loopback for end-to-end tests:
// nodes started one after another (each joining through earlier ones) or all
// at once, restarted at the same ports after a kill, their ring order computed
// independently of src/ (ID = SHA-256 of the P2P address text), API
// connections per node, and bounded polling of "every key through every node".
// Everything spawned is SIGKILLed at cleanupAll().

import { createHash } from "node:crypto";
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import type { ApiClient } from "../../src/client/api-client.js";
import { type ApiEndpoint, PortEndpoint } from "./endpoint.js";
import { quietPort } from "./ports.js";
import { type NodeProcess, startNodeProcess } from "./process.js";

export type { ApiEndpoint } from "./endpoint.js";

export interface ClusterOptions {
  /** `pow_difficulty` in bits (default 8 here, 16 in a node's defaults). */
  powDifficulty?: number;
  /** `stabilize_interval_ms` (fix-fingers at half, predecessor check and repair at twice). */
  stabilizeMs?: number;
  replication?: number;
  successorListLength?: number;
  logLevel?: string;
  /** How long one node may take to log "API listening" (it joins first). */
  startTimeoutMs?: number;
  /**
   * API and P2P ports below the ephemeral range (quietPort) instead of port 0,
   * so a killed node's ports are still free when restart() rebinds them.
   */
  quietPorts?: boolean;
}

/** A ring ID as 64 hex digits: SHA-256 of the P2P address text (as the node computes it). */
export const ringId = (p2p: string): string => createHash("sha256").update(p2p).digest("hex");

/** One node of the cluster: its process, addresses and a cached API connection. */
export class ClusterNode extends PortEndpoint {
  readonly id: string;

  constructor(
    /** "n0", "n1", ... in start order. */
    name: string,
    readonly proc: NodeProcess,
    apiPort: number,
    /** The P2P address, "127.0.0.1:PORT", as peers (and bootstrappers) know it. */
    readonly p2p: string,
  ) {
    super(name, "127.0.0.1", apiPort);
    this.id = ringId(p2p);
  }

  /** Not yet seen to exit (killed or shut down). */
  get alive(): boolean {
    return this.proc.exitStatus === undefined;
  }

  get p2pPort(): number {
    return Number(this.p2p.slice(this.p2p.lastIndexOf(":") + 1));
  }

  /** "n3 127.0.0.1:41234 (id 1a2b3c4d)". */
  override toString(): string {
    return `${this.name} ${this.p2p} (id ${this.id.slice(0, 8)})`;
  }
}

/** Nodes started on loopback with port 0 for both API and P2P (read back from the logs). */
export class Cluster {
  readonly nodes: ClusterNode[] = [];

  constructor(private readonly opts: ClusterOptions = {}) {}

  /**
   * Starts one node, joining through `bootstrappers` (P2P addresses; none
   * starts a new network), and resolves once it logged "API listening",
   * i.e. once it has joined. `p2pPort` fixes its P2P port, and so its ring ID
   * (0: a free one).
   */
  async add(bootstrappers: readonly string[] = [], p2pPort = 0): Promise<ClusterNode> {
    const { node, apiPort, p2p } = await this.spawn(bootstrappers, 0, p2pPort);
    // Named once started, so nodes added concurrently get distinct names.
    const member = new ClusterNode(`n${this.nodes.length}`, node, apiPort, p2p);
    this.nodes.push(member);
    return member;
  }

  /**
   * Starts a fresh process (empty memory) at the API and P2P ports of `old`,
   * which must have exited (e.g. SIGKILLed), so it has the same ring ID; it
   * joins through `bootstrappers` and takes `old`'s place in `nodes`.
   */
  async restart(old: ClusterNode, bootstrappers: readonly string[]): Promise<ClusterNode> {
    if (old.alive) throw new Error(`${old} is still running`);
    await old.dropApi();
    const { node, apiPort, p2p } = await this.spawn(bootstrappers, old.apiPort, old.p2pPort);
    if (p2p !== old.p2p) throw new Error(`restarted at ${p2p}, not ${old.p2p}`);
    const member = new ClusterNode(old.name, node, apiPort, p2p);
    this.nodes[this.nodes.indexOf(old)] = member;
    return member;
  }

  /** Spawns one node on the given ports (0: free ones) and waits until it has joined. */
  private async spawn(
    bootstrappers: readonly string[],
    apiPort = 0,
    p2pPort = 0,
  ): Promise<{ node: NodeProcess; apiPort: number; p2p: string }> {
    const o = this.opts;
    if (o.quietPorts === true) {
      if (apiPort === 0) apiPort = await quietPort();
      if (p2pPort === 0) p2pPort = await quietPort();
    }
    const lines = [
      "[dht]",
      `api_address = 127.0.0.1:${apiPort}`,
      `p2p_address = 127.0.0.1:${p2pPort}`,
      `log_level = ${o.logLevel ?? "info"}`,
      // Admission runs its whole protocol; a lighter puzzle lets ten processes per test
      // join in time on two shared cores (the default is exercised by testnet and CLI tests).
      `pow_difficulty = ${o.powDifficulty ?? 8}`,
    ];
    if (bootstrappers.length > 0) lines.push(`bootstrapper = ${bootstrappers.join(",")}`);
    if (o.stabilizeMs !== undefined) lines.push(`stabilize_interval_ms = ${o.stabilizeMs}`);
    if (o.replication !== undefined) lines.push(`replication = ${o.replication}`);
    if (o.successorListLength !== undefined)
      lines.push(`successor_list_length = ${o.successorListLength}`);
    const started = await startNodeProcess(`${lines.join("\n")}\n`, o.startTimeoutMs ?? 15_000);
    const { node } = started;
    // Logged before the node joins, so it is in the lines already.
    const listening = await node.waitForLine((l) => l.msg === "peer port listening", 1_000);
    const p2p = String(listening.p2p);
    if (!/^127\.0\.0\.1:\d+$/.test(p2p)) throw new Error(`unexpected p2p address ${p2p}`);
    return { node, apiPort: started.apiPort, p2p };
  }

  /** The nodes not seen to exit, in start order. */
  live(): ClusterNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  /** The live nodes in ring order (ascending ID). */
  ringOrder(): ClusterNode[] {
    return this.live().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The live node that follows `node` on the ring (by ID). */
  successorOf(node: ClusterNode): ClusterNode {
    const ring = this.ringOrder();
    const at = ring.indexOf(node);
    if (at < 0) throw new Error(`${node} is not live`);
    return ring[(at + 1) % ring.length]!;
  }

  /**
   * A ring of `count` nodes before any data is stored: the first starts the
   * network, the others join through it all at once (faster than one after
   * another on few cores); resolves once every node names its true successor.
   */
  async startRing(count: number, timeoutMs = 20_000): Promise<void> {
    const first = await this.add();
    await Promise.all(Array.from({ length: count - 1 }, () => this.add([first.p2p])));
    await this.waitForSuccessors(timeoutMs);
  }

  /** waitForSuccessors() over the live nodes. */
  async waitForSuccessors(timeoutMs: number): Promise<void> {
    await waitForSuccessors(this.live(), timeoutMs);
  }

  /** Every node's last stderr lines, for failure messages. */
  stderrTails(n = 12): string {
    return this.nodes
      .map((node) => {
        const status = node.proc.exitStatus;
        const state =
          status === undefined ? "running" : `exited ${status.code ?? ""} ${status.signal ?? ""}`;
        return `--- ${node} api ${node.apiPort}, ${state}:\n${node.proc.stderrTail(n)}`;
      })
      .join("\n");
  }

  /** SIGKILLs every node still running and closes the API connections. */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        await n.dropApi();
        await n.proc.kill("SIGKILL");
      }),
    );
  }
}

/** What waitForSuccessors needs of a node: its process (logs), P2P address and ring ID. */
export interface RingMember {
  readonly proc: NodeProcess;
  readonly p2p: string;
  readonly id: string;
}

/**
 * Waits (on log events) until every node of `members` (all running) has
 * logged its true ring successor among them, either as the successor it
 * joined with or as a "successor changed". With no failures a successor only
 * ever moves closer, so a node that logged its true successor still has it.
 */
export async function waitForSuccessors(
  members: readonly RingMember[],
  timeoutMs: number,
): Promise<void> {
  const ring = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  await Promise.all(
    ring.map((n, i) => {
      const expected = ring[(i + 1) % ring.length]!.p2p;
      return n.proc
        .waitForLine(
          (l) =>
            (l.msg === "successor changed" || l.msg === "joined the ring") &&
            l.successor === expected,
          timeoutMs,
        )
        .catch((err: Error) => {
          throw new Error(`${n.p2p} never logged its successor ${expected}: ${err.message}`);
        });
    }),
  );
}

/** A key the test stored and the value it must read back. */
export interface Stored {
  key: Buffer;
  value: Buffer;
  /** For messages. */
  label: string;
}

/** PUT then GET on one connection: resolves with what the GET saw (the PUT's value once stored). */
export async function putAndRead(
  client: ApiClient,
  key: Buffer,
  value: Buffer,
): Promise<Buffer | undefined> {
  client.put(key, value);
  return client.get(key);
}

/**
 * GETs every stored key through every node, pipelined per connection, all
 * nodes at once. Returns the misses ("n3: key-17 -> FAILURE"); empty when
 * every read returned the exact value. A connection that fails counts as a
 * miss for each of its keys and is redialled next time.
 */
export async function readEverywhere(
  nodes: readonly ApiEndpoint[],
  stored: readonly Stored[],
): Promise<string[]> {
  const perNode = await Promise.all(
    nodes.map(async (node) => {
      let client: ApiClient;
      try {
        client = await node.api();
      } catch (err) {
        return [`${node.name}: cannot connect (${(err as Error).message})`];
      }
      const results = await Promise.allSettled(stored.map((s) => client.get(s.key)));
      const misses: string[] = [];
      results.forEach((r, i) => {
        const s = stored[i]!;
        if (r.status === "rejected") misses.push(`${node.name}: ${s.label} -> ${r.reason}`);
        else if (r.value === undefined) misses.push(`${node.name}: ${s.label} -> FAILURE`);
        else if (!r.value.equals(s.value))
          misses.push(`${node.name}: ${s.label} -> wrong value (${r.value.length} bytes)`);
      });
      if (results.some((r) => r.status === "rejected")) await node.dropApi();
      return misses;
    }),
  );
  return perNode.flat();
}

export interface PollResult {
  elapsedMs: number;
  rounds: number;
  /** What the first round still found wrong (empty when it found everything). */
  firstMisses: string[];
}

/** Least time between the starts of two polling rounds: keeps a fast round from spinning. */
const MIN_ROUND_MS = 50;

/**
 * Runs `round` (which returns what is still wrong) until it returns nothing,
 * or fails after `timeoutMs` with the last round's misses. Each round is real
 * work (GETs); rounds start at most every MIN_ROUND_MS.
 */
export async function pollUntilNoMisses(
  what: string,
  timeoutMs: number,
  round: () => Promise<string[]>,
): Promise<PollResult> {
  const start = performance.now();
  let rounds = 0;
  let firstMisses: string[] | undefined;
  for (;;) {
    const roundStart = performance.now();
    const misses = await round();
    rounds++;
    firstMisses ??= misses;
    const elapsedMs = performance.now() - start;
    if (misses.length === 0) return { elapsedMs, rounds, firstMisses };
    if (elapsedMs >= timeoutMs) {
      const shown = misses.slice(0, 20).join("\n  ");
      throw new Error(
        `${what}: still ${misses.length} misses after ${Math.round(elapsedMs)} ms (${rounds} rounds):\n  ${shown}`,
      );
    }
    const wait = MIN_ROUND_MS - (performance.now() - roundStart);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/**
 * The sockets a process holds open (their inode numbers, from /proc/PID/fd):
 * listeners, connections and stdio. A connection the process closes leaves
 * the set. Undefined where /proc does not exist (not Linux).
 */
export function openSockets(pid: number): Set<string> | undefined {
  const dir = `/proc/${pid}/fd`;
  if (!existsSync(dir)) return undefined;
  const out = new Set<string>();
  for (const fd of readdirSync(dir)) {
    try {
      const target = readlinkSync(`${dir}/${fd}`);
      if (target.startsWith("socket:")) out.add(target);
    } catch {
      // closed between readdir and readlink
    }
  }
  return out;
}

/** A deterministic generator of floats in [0, 1) (mulberry32), so a failing run can be repeated. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
