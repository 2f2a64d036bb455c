// Ring benchmark helpers. A ring is hosted by one or more forked worker
// processes ("ring workers"), each holding some of the in-process RingDhtNodes,
// all over real TCP on 127.0.0.1 with OS-picked ports. The parent (the
// benchmark) drives the workers over IPC: start nodes, check the ring against
// the definition (IDs sorted), run lookups, store keys, crash nodes. Keeping
// the nodes out of the benchmark process leaves its CPU to the API client and
// makes a node's memory measurable; several workers are needed past ~400
// nodes because each node holds ~40-60 descriptors (2 listeners plus both ends
// of its loopback connections) and RLIMIT_NOFILE (20,000 here) is per process.
//
// This module is the worker too: forked with RINGDHT_RING_WORKER=1 it serves
// requests instead of exporting helpers only. Used only by `npm run bench`.

import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Config } from "../src/config/config.js";
import { createLogger, type LogLevel, silentLogger } from "../src/log.js";
import { RingDhtNode } from "../src/node.js";
import { type Id, keyPosition } from "../src/ring/id.js";
import { betweenRightIncl } from "../src/ring/interval.js";
import { keyId } from "../src/store/store.js";
import { testnetConfig } from "../src/testnet.js";

export const HOST = "127.0.0.1";
const WORKER_ENV = "RINGDHT_RING_WORKER";
/** No single worker request (a join, a batch of lookups, a crash watch) may take longer. */
const REQUEST_TIMEOUT_MS = 300_000;

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Progress lines go to stderr, so stdout holds only the tables. */
export const progress = (msg: string): void => {
  process.stderr.write(`[ring-bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

export const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

/** Runs `task` for each index in 0..count-1, at most `width` at a time. */
export async function pool(
  count: number,
  width: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
}

/** The soft and hard RLIMIT_NOFILE of this process (Linux /proc; NaN elsewhere). */
export function fileLimit(): { soft: number; hard: number } {
  try {
    const m = /Max open files\s+(\S+)\s+(\S+)/.exec(readFileSync("/proc/self/limits", "utf8"));
    const num = (s: string | undefined) => (s === "unlimited" ? Infinity : Number(s));
    return { soft: num(m?.[1]), hard: num(m?.[2]) };
  } catch {
    return { soft: Number.NaN, hard: Number.NaN };
  }
}

function openFds(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return Number.NaN;
  }
}

/** The index in `sortedIds` of the node responsible for ring position `pos`. */
export function ownerIndex(sortedIds: readonly Id[], pos: Id): number {
  let lo = 0;
  let hi = sortedIds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sortedIds[mid]! < pos) lo = mid + 1;
    else hi = mid;
  }
  const i = lo === sortedIds.length ? 0 : lo;
  const prev = sortedIds[(i - 1 + sortedIds.length) % sortedIds.length]!;
  if (sortedIds.length > 1 && !betweenRightIncl(prev, pos, sortedIds[i]!))
    throw new Error("ownerIndex broke the interval rule");
  return i;
}

// --- the protocol between the benchmark and its workers ---

export interface StartedNode {
  id: Id;
  addr: string;
  apiPort: number;
}

export interface WorkerStats {
  nodes: number;
  rss: number;
  /** RSS when the worker was ready, before any node started. */
  baseRss: number;
  heapUsed: number;
  fds: number;
  peakFds: number;
  /** CPU time used by the worker so far (user + system), µs. */
  cpuMicros: number;
}

export interface LookupSample {
  /** NaN when the lookup failed. */
  hops: number;
  ms: number;
  wrong: boolean;
  failed: boolean;
}

export interface ReplicationStatus {
  keys: number;
  /** Keys with fewer than `want` live copies among the live nodes. */
  short: number;
  /** Keys missing from one of the `want` nodes that should hold them (owner and successors). */
  misplaced: number;
  /** Live nodes with a wrong successor or predecessor. */
  badNodes: number;
}

export interface CrashWatch {
  /** What the crashed node held (owned and replica copies). */
  held: number;
  /** Keys with fewer than `want` copies at the first poll after the crash. */
  shortAtCrash: number;
  /** ms from crash() to: ring consistent again, all keys with `want` copies, all on their places. */
  ringMs: number | null;
  copiesMs: number | null;
  placedMs: number | null;
  final: ReplicationStatus;
}

type Requests = {
  start: { args: { config: Partial<Config>; via: string | null }; result: StartedNode };
  startMany: { args: { config: Partial<Config>; vias: string[] }; result: StartedNode[] };
  setRing: { args: { sortedIds: Id[] }; result: null };
  check: { args: Record<string, never>; result: number };
  lookups: { args: { count: number; width: number }; result: LookupSample[] };
  stats: { args: Record<string, never>; result: WorkerStats };
  putKeys: {
    args: { count: number; valueBytes: number; width: number; via: number };
    result: { stored: number; failed: number };
  };
  replStatus: { args: { want: number }; result: ReplicationStatus };
  crashAndWatch: {
    args: { want: number; everyMs: number; timeoutMs: number };
    result: CrashWatch;
  };
  crashAll: { args: Record<string, never>; result: null };
};
type Op = keyof Requests;
type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** One forked worker process and its pending requests. */
class Worker {
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  readonly exited: Promise<void>;

  private constructor(private readonly proc: ChildProcess) {
    proc.on("message", (msg: Reply) => {
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`ring worker: ${msg.error}`));
    });
    this.exited = new Promise((resolve) =>
      proc.once("exit", (code) => {
        for (const p of this.pending.values())
          p.reject(new Error(`ring worker exited with ${code}`));
        this.pending.clear();
        resolve();
      }),
    );
  }

  static spawn(): Promise<Worker> {
    const proc = fork(fileURLToPath(import.meta.url), [], {
      env: { ...process.env, [WORKER_ENV]: "1" },
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    const worker = new Worker(proc);
    return new Promise((resolve, reject) => {
      proc.once("error", reject);
      proc.once("exit", (code) => reject(new Error(`ring worker exited early with ${code}`)));
      proc.once("message", () => resolve(worker)); // the first message says "ready"
    });
  }

  /** Sends one request; fails after `timeoutMs` (every benchmark step is bounded). */
  request<K extends Op>(
    op: K,
    args: Requests[K]["args"],
    timeoutMs = REQUEST_TIMEOUT_MS,
  ): Promise<Requests[K]["result"]> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`ring worker: ${op} took over ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const done =
        <T>(f: (v: T) => void) =>
        (v: T) => {
          clearTimeout(timer);
          f(v);
        };
      this.pending.set(id, {
        resolve: done(resolve as (v: unknown) => void),
        reject: done(reject),
      });
      this.proc.send({ id, op, args });
    });
  }

  kill(): void {
    this.proc.kill("SIGKILL");
  }
}

/** A ring spread over `k` worker processes, nodes placed round-robin. */
export class RingCluster {
  readonly nodes: (StartedNode & { worker: number })[] = [];
  /** performance.now() just before the first node started. */
  t0 = 0;
  private sortedIds: Id[] = [];

  private constructor(private readonly workers: Worker[]) {}

  static async create(k: number): Promise<RingCluster> {
    const workers = await Promise.all(Array.from({ length: k }, () => Worker.spawn()));
    return new RingCluster(workers);
  }

  /** Every node's ID, sorted: the ring by definition (set once all have started). */
  get ids(): readonly Id[] {
    return this.sortedIds;
  }

  get processes(): number {
    return this.workers.length;
  }

  /**
   * Starts `n` nodes. "sequential": as startTestnet, one after another, each
   * joining through the first node. "waves": concurrently in doubling waves
   * (each wave as large as the ring so far), each node joining through a
   * random node that had already joined. Returns ms from the first start until
   * the last join completed.
   */
  async start(
    n: number,
    config: Partial<Config>,
    mode: "sequential" | "waves",
    onStarted: (count: number) => void = () => {},
  ): Promise<number> {
    const k = this.workers.length;
    this.t0 = performance.now();
    const first = await this.workers[0]!.request("start", { config, via: null });
    this.nodes.push({ ...first, worker: 0 });
    onStarted(1);
    while (this.nodes.length < n) {
      if (mode === "sequential") {
        const w = this.nodes.length % k;
        const node = await this.workers[w]!.request("start", { config, via: first.addr });
        this.nodes.push({ ...node, worker: w });
      } else {
        const members = this.nodes.map((x) => x.addr);
        const wave = Math.min(members.length, n - this.nodes.length);
        const vias: string[][] = Array.from({ length: k }, () => []);
        for (let i = 0; i < wave; i++)
          vias[(this.nodes.length + i) % k]!.push(
            members[Math.floor(Math.random() * members.length)]!,
          );
        const started = await Promise.all(
          this.workers.map((w, wi) =>
            vias[wi]!.length === 0
              ? Promise.resolve([])
              : w.request("startMany", { config, vias: vias[wi]! }),
          ),
        );
        started.forEach((list, wi) => {
          for (const node of list) this.nodes.push({ ...node, worker: wi });
        });
      }
      onStarted(this.nodes.length);
    }
    const joinedMs = performance.now() - this.t0;
    this.sortedIds = this.nodes.map((x) => x.id).sort();
    await Promise.all(this.workers.map((w) => w.request("setRing", { sortedIds: this.sortedIds })));
    return joinedMs;
  }

  /** Live nodes with a wrong successor or predecessor (0: consistent). */
  async inconsistent(): Promise<number> {
    const bad = await Promise.all(this.workers.map((w) => w.request("check", {})));
    return bad.reduce((a, b) => a + b, 0);
  }

  /**
   * Polls every `everyMs` until the ring is consistent; resolves with the ms
   * from the first node's start, or null after `timeoutMs` from now.
   */
  async waitConsistent(
    timeoutMs: number,
    everyMs = 20,
    onSlowPoll: (bad: number, atMs: number) => void = () => {},
  ): Promise<number | null> {
    const deadline = performance.now() + timeoutMs;
    let lastReport = performance.now();
    for (;;) {
      const bad = await this.inconsistent();
      const now = performance.now();
      if (bad === 0) return now - this.t0;
      if (now >= deadline) return null;
      if (now - lastReport >= 5000) {
        lastReport = now;
        onSlowPoll(bad, now - this.t0);
      }
      await sleep(everyMs);
    }
  }

  /** `count` lookups of random positions from random nodes, split over the workers. */
  async lookups(count: number, widthPerWorker: number): Promise<LookupSample[]> {
    const k = this.workers.length;
    const parts = await Promise.all(
      this.workers.map((w, i) =>
        w.request("lookups", {
          count: Math.floor(count / k) + (i < count % k ? 1 : 0),
          width: widthPerWorker,
        }),
      ),
    );
    return parts.flat();
  }

  stats(): Promise<WorkerStats[]> {
    return Promise.all(this.workers.map((w) => w.request("stats", {})));
  }

  /** Only for a ring in one worker: its methods see every node. */
  private single(): Worker {
    if (this.workers.length !== 1) throw new Error("needs a ring in one worker");
    return this.workers[0]!;
  }

  putKeys(count: number, valueBytes: number, via = 0): Promise<{ stored: number; failed: number }> {
    return this.single().request("putKeys", { count, valueBytes, width: 64, via });
  }

  replStatus(want: number): Promise<ReplicationStatus> {
    return this.single().request("replStatus", { want });
  }

  crashAndWatch(want: number, everyMs: number, timeoutMs: number): Promise<CrashWatch> {
    return this.single().request("crashAndWatch", { want, everyMs, timeoutMs });
  }

  /** Crashes every node, then ends the workers (killed if they do not exit). */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        await Promise.race([w.request("crashAll", {}).catch(() => null), sleep(10_000)]);
        w.kill();
        await w.exited;
      }),
    );
  }
}

// --- the worker side ---

function parseP2p(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(":");
  return { host: addr.slice(0, at), port: Number(addr.slice(at + 1)) };
}

class WorkerState {
  readonly log =
    process.env.BENCH_RING_LOG === undefined
      ? silentLogger()
      : createLogger({ level: process.env.BENCH_RING_LOG as LogLevel, format: "json" });
  readonly nodes: RingDhtNode[] = [];
  readonly crashed = new Set<RingDhtNode>();
  readonly baseRss = process.memoryUsage().rss;
  peakFds = openFds();
  sortedIds: Id[] = [];
  index = new Map<Id, number>();
  keys: Buffer[] = [];
  keyOwner: number[] = [];

  constructor() {
    // Listing /proc/self/fd costs ~ms at 10k descriptors: sample once a second.
    setInterval(() => this.sampleFds(), 1000).unref();
  }

  sampleFds(): number {
    const n = openFds();
    if (n > this.peakFds) this.peakFds = n;
    return n;
  }

  live(): RingDhtNode[] {
    return this.nodes.filter((n) => !this.crashed.has(n));
  }

  async start(config: Partial<Config>, via: string | null): Promise<StartedNode> {
    const c = testnetConfig({ nodes: 1, host: HOST, p2pBasePort: 0, apiBasePort: 0, config }, 0);
    if (via !== null) c.bootstrappers = [parseP2p(via)];
    const node = await RingDhtNode.start(c, { log: this.log });
    this.nodes.push(node);
    return { id: node.chord.self.id, addr: node.p2pAddress, apiPort: node.apiAddress.port };
  }

  setRing(sortedIds: Id[]): void {
    this.sortedIds = sortedIds;
    this.index = new Map(sortedIds.map((id, i) => [id, i]));
  }

  /** Live local nodes with a wrong successor or predecessor, by `sortedIds`. */
  check(): number {
    const ids = this.sortedIds;
    const n = ids.length;
    let bad = 0;
    for (const node of this.live()) {
      const i = this.index.get(node.chord.self.id);
      if (i === undefined) throw new Error("node missing from the ring list");
      const t = node.chord.table;
      const next = n === 1 ? node.chord.self.id : ids[(i + 1) % n];
      const prev = n === 1 ? undefined : ids[(i - 1 + n) % n];
      if (t.successor().id !== next || t.predecessor?.id !== prev) bad++;
    }
    return bad;
  }

  async lookups(count: number, width: number): Promise<LookupSample[]> {
    const live = this.live();
    const out: LookupSample[] = [];
    await pool(count, width, async () => {
      const from = live[Math.floor(Math.random() * live.length)]!;
      const pos = randomBytes(32).toString("hex");
      const t = performance.now();
      const r = await from.chord.lookup(pos).catch(() => undefined);
      const ms = performance.now() - t;
      if (r === undefined) {
        out.push({ hops: Number.NaN, ms, wrong: false, failed: true });
        return;
      }
      out.push({
        failed: false,
        hops: r.hops,
        ms,
        wrong: r.node.id !== this.sortedIds[ownerIndex(this.sortedIds, pos)],
      });
    });
    return out;
  }

  stats(): WorkerStats {
    const m = process.memoryUsage();
    return {
      nodes: this.live().length,
      rss: m.rss,
      baseRss: this.baseRss,
      heapUsed: m.heapUsed,
      fds: this.sampleFds(),
      peakFds: this.peakFds,
      cpuMicros: (({ user, system }) => user + system)(process.cpuUsage()),
    };
  }

  /** PUTs `count` random keys through node `via`; only the stored ones are watched later. */
  async putKeys(count: number, valueBytes: number, width: number, via: number) {
    const entry = this.nodes[via]!;
    const value = randomBytes(valueBytes);
    const keys = Array.from({ length: count }, () => randomBytes(32));
    const ok: boolean[] = [];
    await pool(count, width, (i) =>
      entry.chord.put({ key: keys[i]!, value, ttl: 3600, replication: 0 }).then(
        () => {
          ok[i] = true;
        },
        () => {
          ok[i] = false;
        },
      ),
    );
    this.keys = keys.filter((_, i) => ok[i]);
    this.keyOwner = this.keys.map((k) => ownerIndex(this.sortedIds, keyPosition(k)));
    return { stored: this.keys.length, failed: count - this.keys.length };
  }

  /** Needs every node of the ring in this worker. */
  replStatus(want: number): ReplicationStatus {
    const live = this.live();
    const byId = new Map(live.map((n) => [n.chord.self.id, n]));
    const ids = this.sortedIds;
    const now = Date.now();
    let short = 0;
    let misplaced = 0;
    this.keys.forEach((key, k) => {
      const kid = keyId(key);
      let copies = 0;
      for (const node of live) if (node.chord.data.store.get(kid, now) !== undefined) copies++;
      if (copies < Math.min(want, live.length)) short++;
      const owner = this.keyOwner[k]!;
      for (let j = 0; j < Math.min(want, ids.length); j++) {
        const holder = byId.get(ids[(owner + j) % ids.length]!);
        if (holder?.chord.data.store.get(kid, now) === undefined) {
          misplaced++;
          break;
        }
      }
    });
    return { keys: this.keys.length, short, misplaced, badNodes: this.check() };
  }

  /**
   * Crashes one random node holding data, then polls every `everyMs` until
   * the ring is consistent again and every key has `want` copies in place.
   */
  async crashAndWatch(want: number, everyMs: number, timeoutMs: number): Promise<CrashWatch> {
    const live = this.live();
    const holders = live.filter((n) => n.chord.data.store.size > 0);
    const victim = holders[Math.floor(Math.random() * holders.length)]!;
    const held = victim.chord.data.store.size;
    const t0 = performance.now();
    await victim.crash();
    this.crashed.add(victim);
    this.setRing(this.sortedIds.filter((id) => id !== victim.chord.self.id));
    this.keyOwner = this.keys.map((k) => ownerIndex(this.sortedIds, keyPosition(k)));
    let ringMs: number | null = null;
    let copiesMs: number | null = null;
    let placedMs: number | null = null;
    let shortAtCrash = -1;
    let status: ReplicationStatus;
    for (;;) {
      status = this.replStatus(want);
      const at = performance.now() - t0;
      if (shortAtCrash < 0) shortAtCrash = status.short;
      if (ringMs === null && status.badNodes === 0) ringMs = at;
      if (copiesMs === null && status.short === 0) copiesMs = at;
      if (placedMs === null && status.misplaced === 0) placedMs = at;
      if ((ringMs !== null && copiesMs !== null && placedMs !== null) || at > timeoutMs) break;
      await sleep(everyMs);
    }
    return { held, shortAtCrash, ringMs, copiesMs, placedMs, final: status };
  }

  async crashAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.crash().catch(() => undefined)));
  }
}

function runWorker(send: (msg: unknown) => void): void {
  const s = new WorkerState();
  type Args<K extends Op> = Requests[K]["args"];
  const handlers: {
    [K in Op]: (a: Args<K>) => Requests[K]["result"] | Promise<Requests[K]["result"]>;
  } = {
    start: (a) => s.start(a.config, a.via),
    startMany: (a) => Promise.all(a.vias.map((via) => s.start(a.config, via))),
    setRing: (a) => {
      s.setRing(a.sortedIds);
      return null;
    },
    check: () => s.check(),
    lookups: (a) => s.lookups(a.count, a.width),
    stats: () => s.stats(),
    putKeys: (a) => s.putKeys(a.count, a.valueBytes, a.width, a.via),
    replStatus: (a) => s.replStatus(a.want),
    crashAndWatch: (a) => s.crashAndWatch(a.want, a.everyMs, a.timeoutMs),
    crashAll: async () => {
      await s.crashAll();
      return null;
    },
  };
  process.on("message", (msg: { id: number; op: Op; args: never }) => {
    Promise.resolve()
      .then(() => (handlers[msg.op] as (a: never) => unknown)(msg.args))
      .then(
        (result) => send({ id: msg.id, ok: true, result: result ?? null }),
        (err: Error) => send({ id: msg.id, ok: false, error: err.stack ?? String(err) }),
      );
  });
  // The parent going away ends the worker (its nodes with it).
  process.on("disconnect", () => process.exit(0));
  send({ ready: true });
}

if (process.env[WORKER_ENV] === "1" && process.send !== undefined) {
  const send = process.send.bind(process);
  runWorker((msg) => send(msg));
}
