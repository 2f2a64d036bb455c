// The simulator at scale: rings of thousands of real ChordNodes on the
// in-memory network and one ManualClock, deterministic from a seed.
// Policy:
// - seedRing() builds an N-node ring in bulk, as if every node had joined long
//   ago: each node is started alone (so its maintenance jobs run), then its
//   routing table is filled from the sorted ID list (predecessor, r
//   successors, every finger the true successor of its start) and every peer
//   in it marked verified, as an answer from it would. Nothing is sent; the
//   ring is consistent at time 0 and stays so if the protocol keeps it. Its
//   fingers count as settled (a long-standing node's last pass over them
//   changed nothing), so they are re-checked at the slow cadence, as on a
//   ring that has run for a while.
// - joinWave() then adds joiners through the real join protocol (lookup,
//   admission puzzle, split), all at once, each through a random member.
// - fingerReport() compares every finger with the true successor of its start.
// - hopSample() runs checked lookups of random positions from random nodes and
//   summarises the GetNode hop counts; every answer is checked against the
//   true owner.

import type { ChordNode } from "../../src/chord/chord-node.js";
import type { ChordOptions } from "../../src/chord/options.js";
import type { Stabilizer } from "../../src/chord/stabilizer.js";
import { distance, fingerStart, ID_BITS, type Id, keyPosition } from "../../src/ring/id.js";
import { SIM_OPTIONS, SimRing } from "./sim-ring.js";

export interface HopSummary {
  lookups: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
  /** Answers that named another node than the true owner. */
  wrong: number;
  /** Lookups that failed. */
  failed: number;
}

export interface FingerReport {
  /** Finger entries set (distinct fingers per node, summed). */
  set: number;
  /** Of those, the true successor of their start. */
  exact: number;
  /** Entries naming a node that is not running. */
  dead: number;
}

const byId = (a: ChordNode, b: ChordNode): number => (a.self.id < b.self.id ? -1 : 1);

/** Index of the first sorted id >= pos, wrapping to 0. */
function successorIndex(ids: readonly Id[], pos: Id): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < pos) lo = mid + 1;
    else hi = mid;
  }
  return lo === ids.length ? 0 : lo;
}

/** The running nodes sorted by ID, with their IDs. */
export function sortedLive(ring: SimRing): { nodes: ChordNode[]; ids: Id[] } {
  const nodes = ring.live.sort(byId);
  return { nodes, ids: nodes.map((n) => n.self.id) };
}

/** An N-node ring in bulk (see the policy above). Does not advance time. */
export async function seedRing(
  n: number,
  seed: number,
  opts: ChordOptions = SIM_OPTIONS,
): Promise<SimRing> {
  const ring = new SimRing(seed, opts);
  const started = Array.from({ length: n }, () => ring.spawn().started);
  await Promise.all(started);
  const { nodes, ids } = sortedLive(ring);
  const r = opts.successorListLength;
  nodes.forEach((node, i) => {
    const t = node.table;
    const peers = [];
    const pred = nodes[(i - 1 + n) % n]!.self;
    t.setPredecessor(pred);
    peers.push(pred);
    const succs = Array.from(
      { length: Math.min(r, n - 1) },
      (_, k) => nodes[(i + 1 + k) % n]!.self,
    );
    t.setSuccessors(succs);
    peers.push(...succs);
    // Fingers as fixFinger sets them: finger k and every later one the same node covers.
    for (let k = 0; k < ID_BITS; ) {
      const start = fingerStart(t.self.id, k);
      const f = nodes[successorIndex(ids, start)]!.self;
      if (f.id === t.self.id) break;
      const last = Math.max(k, distance(t.self.id, f.id).toString(2).length - 1);
      t.setFingers(k, last, f);
      peers.push(f);
      k = last + 1;
    }
    for (const p of peers) node.gate.vouch(p.addr);
    // The node keeps its stabilizer to itself; a seeded one has passed over its fingers.
    (node as unknown as { stabilizer: Stabilizer }).stabilizer.fingerPasses = 1;
  });
  return ring;
}

/** Starts `count` joiners at once, each through a random running member. Does not advance time. */
export async function joinWave(ring: SimRing, count: number): Promise<void> {
  const members = ring.live;
  await Promise.all(
    Array.from({ length: count }, () => {
      const via = members[Math.floor(ring.random() * members.length)]!;
      return ring.spawn(via).started;
    }),
  );
}

/** Every running node's fingers against the true successors of their starts. */
export function fingerReport(ring: SimRing): FingerReport {
  const { nodes, ids } = sortedLive(ring);
  const running = new Set(ids);
  const out: FingerReport = { set: 0, exact: 0, dead: 0 };
  for (const node of nodes) {
    let prev: Id | undefined;
    for (let k = 0; k < ID_BITS; k++) {
      const f = node.table.finger(k);
      if (f === undefined) continue;
      const truth = nodes[successorIndex(ids, fingerStart(node.self.id, k))]!.self.id;
      if (f.id === prev && truth === prev) continue; // the same entry, still right
      prev = f.id;
      out.set++;
      if (f.id === truth) out.exact++;
      if (!running.has(f.id)) out.dead++;
    }
  }
  return out;
}

const quantile = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

/** Runs `count` checked lookups of random positions from random running nodes, all at once. */
export async function hopSample(ring: SimRing, count: number): Promise<HopSummary> {
  const { nodes, ids } = sortedLive(ring);
  const asked = Array.from({ length: count }, () => {
    const from = nodes[Math.floor(ring.random() * nodes.length)]!;
    const key = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) key[i] = Math.floor(ring.random() * 256);
    const pos = keyPosition(key);
    return {
      owner: ids[successorIndex(ids, pos)]!,
      result: from.lookup(pos).then(
        (found) => found,
        () => undefined,
      ),
    };
  });
  const results = await ring.settle(Promise.all(asked.map((a) => a.result)), 60_000);
  const hops: number[] = [];
  let wrong = 0;
  let failed = 0;
  results.forEach((res, i) => {
    if (res === undefined) failed++;
    else {
      hops.push(res.hops);
      if (res.node.id !== asked[i]!.owner) wrong++;
    }
  });
  hops.sort((a, b) => a - b);
  const mean = hops.reduce((s, h) => s + h, 0) / Math.max(1, hops.length);
  return {
    lookups: count,
    mean,
    p50: quantile(hops, 0.5),
    p99: quantile(hops, 0.99),
    max: hops[hops.length - 1] ?? Number.NaN,
    wrong,
    failed,
  };
}

export interface ScaleOptions {
  /** Nodes seeded in bulk. */
  nodes: number;
  /** Simulated ms of maintenance on the seeded ring before it is checked again. */
  windowMs: number;
  /** Joiners started at once after the window, each through a random member. */
  joiners: number;
  /** Lookups sampled for hop counts (after the joins). */
  lookups: number;
}

export interface ScaleResult {
  nodes: number;
  seed: number;
  /** Wall ms to construct and seed the ring. */
  seedWallMs: number;
  /** Consistent, and every finger exact, right after seeding. */
  seededExact: boolean;
  /** Wall ms of the maintenance window; whether the ring was consistent after it. */
  windowWallMs: number;
  windowConsistent: boolean;
  windowFingers: FingerReport;
  windowMessages: number;
  /** Simulated ms until every joiner's start() returned, and until the ring was consistent again (-1: not within 60 s). */
  joinedMs: number;
  joinConvergedMs: number;
  joinWallMs: number;
  joinMessages: number;
  hops: HopSummary;
  hopsWallMs: number;
  /** Fingers at the very end (joiners have had only their first lookups' worth of time). */
  finalFingers: FingerReport;
  live: number;
}

/** Checks the ring this often (simulated ms) while waiting for it to converge after joins. */
const CONVERGE_STEP_MS = 50;

/** One seeded scale run: bulk ring, maintenance window, a wave of joiners, hop counts. */
export async function runScale(seed: number, o: ScaleOptions): Promise<ScaleResult> {
  let t = performance.now();
  const lap = () => {
    const now = performance.now();
    const ms = now - t;
    t = now;
    return ms;
  };
  const ring = await seedRing(o.nodes, seed);
  const seeded = fingerReport(ring);
  const seededExact = ring.consistent() && seeded.exact === seeded.set;
  const seedWallMs = lap();

  let sent = ring.net.stats.sent;
  await ring.clock.advance(o.windowMs);
  const windowConsistent = ring.consistent();
  const windowFingers = fingerReport(ring);
  const windowMessages = ring.net.stats.sent - sent;
  const windowWallMs = lap();

  sent = ring.net.stats.sent;
  const from = ring.clock.now();
  let joined = false;
  void joinWave(ring, o.joiners).then(() => {
    joined = true;
  });
  await ring.clock.runUntil(() => joined, 60_000);
  const joinedMs = joined ? ring.clock.now() - from : -1;
  const more = joined ? await ring.converge(60_000, CONVERGE_STEP_MS) : -1;
  const joinConvergedMs = more < 0 ? -1 : ring.clock.now() - from;
  const joinMessages = ring.net.stats.sent - sent;
  const joinWallMs = lap();

  const hops = await hopSample(ring, o.lookups);
  const hopsWallMs = lap();
  return {
    nodes: o.nodes,
    seed,
    seedWallMs,
    seededExact,
    windowWallMs,
    windowConsistent,
    windowFingers,
    windowMessages,
    joinedMs,
    joinConvergedMs,
    joinWallMs,
    joinMessages,
    hops,
    hopsWallMs,
    finalFingers: fingerReport(ring),
    live: ring.live.length,
  };
}
