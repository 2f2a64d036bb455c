// What the acknowledged-write guarantee costs and how fast it recovers, on the
// deterministic simulator (in-memory network, 1-5 ms per message, simulated
// time; every message through the real codec), default node settings:
//   1. idle traffic of a formed 100-node ring holding 2,000 values, and the
//      anti-entropy exchanges in it (counted by the nodes; bytes per exchange
//      from the codec);
//   2. a 50 | 50 partition of 100 nodes with writes on both sides, healed:
//      time to one consistent ring, to the newest value on every replica set,
//      and to the newest value on every copy anywhere;
//   3. 20 % of a 100-node ring crashing at once: time to a consistent ring and
//      to 8 copies of every value on its replica set, and values lost.
// Times are simulated milliseconds; medians over seeds. Measurement only.

import type { ChordNode } from "../src/chord/chord-node.js";
import { defaultConfig } from "../src/config/config.js";
import { chordOptions } from "../src/node.js";
import { keyPosition } from "../src/ring/id.js";
import { betweenRightIncl } from "../src/ring/interval.js";
import { keyId } from "../src/wire/key.js";
import { encodeReply, encodeRequest } from "../src/wire/peer.js";
import { SimRing } from "../test/sim/sim-ring.js";
import { fmt, median } from "./harness.js";
import { progress } from "./ring-harness.js";

const N = 100;
const KEYS = 2000;
const IDLE_MS = 60_000;
// The node's defaults, but the simulator's 4-bit proof of work: solving the
// default puzzle for every joiner took 85 % of the wall time of growing a
// 100-node ring, and admission has no part in what is measured here.
const DEFAULTS = { ...chordOptions(defaultConfig()), powBits: 4 };

const keysFor = (tag: string) =>
  Array.from({ length: KEYS }, (_, i) => Buffer.from(`${tag} ${i}`.padEnd(32, ".")));

async function formed(seed: number): Promise<SimRing> {
  const ring = new SimRing(seed, DEFAULTS);
  await ring.grow(N);
  if ((await ring.converge(120_000)) < 0) throw new Error(`seed ${seed}: ring did not form`);
  return ring;
}

async function putAll(ring: SimRing, keys: Buffer[], value: string, via: ChordNode[]) {
  for (let i = 0; i < keys.length; i += 100) {
    const batch = keys.slice(i, i + 100).map((key) => {
      const entry = via[Math.floor(ring.random() * via.length)]!;
      return entry.put({ key, value: Buffer.from(value), ttl: 0, replication: 0 });
    });
    await ring.settle(Promise.allSettled(batch), 120_000);
  }
}

function replicaSet(ring: SimRing, key: Buffer): ChordNode[] {
  const nodes = [...ring.live].sort((a, b) => (a.self.id < b.self.id ? -1 : 1));
  const pos = keyPosition(key);
  const at = nodes.findIndex((n, i) =>
    betweenRightIncl(nodes[(i - 1 + nodes.length) % nodes.length]!.self.id, pos, n.self.id),
  );
  const k = Math.min(DEFAULTS.replication, nodes.length);
  return Array.from({ length: k }, (_, i) => nodes[(at + i) % nodes.length]!);
}

const holds = (ring: SimRing, n: ChordNode, key: Buffer, value: string): boolean =>
  n.data.store.get(keyId(key), ring.clock.now())?.value.toString() === value;

/** Simulated ms until `done()` holds, or null. */
async function timeUntil(ring: SimRing, done: () => boolean, maxMs: number) {
  const t0 = ring.clock.now();
  return (await ring.clock.runUntil(done, maxMs)) ? ring.clock.now() - t0 : null;
}

/** Frame bytes of one SyncRange exchange whose summaries match (the idle case). */
function matchingSyncBytes(): number {
  const key = Buffer.alloc(32);
  const req = { lo: key, hi: key, minReplication: 8, root: 2 ** 31, count: 25 };
  return (
    encodeRequest(1, "syncRange", req).length +
    encodeReply(1, { match: true, count: 25, buckets: [] }).length
  );
}

async function idleTraffic(seed: number) {
  const ring = await formed(seed);
  await putAll(ring, keysFor("idle"), "v", ring.live);
  await ring.clock.advance(30_000);
  const syncs = () => ring.live.reduce((a, n) => a + n.ae.stats.syncs, 0);
  const mismatches = () => ring.live.reduce((a, n) => a + n.ae.stats.mismatches, 0);
  const [before, s0, m0] = [ring.net.stats, syncs(), mismatches()];
  await ring.clock.advance(IDLE_MS);
  const after = ring.net.stats;
  const perNodeMin = (x: number) => (x / N) * (60_000 / IDLE_MS);
  return {
    bytes: perNodeMin(after.bytes - before.bytes),
    messages: perNodeMin(after.sent - before.sent),
    syncs: perNodeMin(syncs() - s0),
    mismatches: perNodeMin(mismatches() - m0),
  };
}

async function partitionHeal(seed: number) {
  const ring = await formed(seed);
  const keys = keysFor("part");
  await putAll(ring, keys, "before", ring.live);
  const shuffled = [...ring.live].sort(() => ring.random() - 0.5);
  const [a, b] = [shuffled.slice(0, N / 2), shuffled.slice(N / 2)];
  ring.net.partition(
    a.map((n) => n.self.addr),
    b.map((n) => n.self.addr),
  );
  await ring.clock.advance(30_000);
  await putAll(ring, keys.slice(0, KEYS / 2), "side a", a);
  await ring.clock.advance(1_000);
  await putAll(ring, keys, "side b", b);
  ring.net.heal();
  const t0 = ring.clock.now();
  const ringMs = await timeUntil(ring, () => ring.consistent(), 120_000);
  const onSets = () =>
    keys.every((k) => replicaSet(ring, k).every((n) => holds(ring, n, k, "side b")));
  const setsMs = (await timeUntil(ring, onSets, 120_000)) === null ? null : ring.clock.now() - t0;
  const everywhere = () =>
    keys.every((k) =>
      ring.live.every((n) => {
        const v = n.data.store.get(keyId(k), ring.clock.now());
        return v === undefined || v.value.toString() === "side b";
      }),
    );
  const allMs =
    (await timeUntil(ring, everywhere, 120_000)) === null ? null : ring.clock.now() - t0;
  return { ringMs, setsMs, allMs };
}

async function massCrash(seed: number) {
  const ring = await formed(seed);
  const keys = keysFor("crash");
  await putAll(ring, keys, "v", ring.live);
  await ring.clock.advance(10_000);
  const victims = [...ring.live].sort(() => ring.random() - 0.5).slice(0, N / 5);
  const lost = keys.filter((k) =>
    ring.live.every((n) => victims.includes(n) || !holds(ring, n, k, "v")),
  ).length;
  for (const v of victims) {
    ring.net.kill(v.self.addr);
    await v.stop();
  }
  const t0 = ring.clock.now();
  const ringMs = await timeUntil(ring, () => ring.consistent(), 120_000);
  const full = () => keys.every((k) => replicaSet(ring, k).every((n) => holds(ring, n, k, "v")));
  const copiesMs = (await timeUntil(ring, full, 120_000)) === null ? null : ring.clock.now() - t0;
  return { ringMs, copiesMs, lost };
}

const cell = (xs: (number | null)[]): string => {
  const ok = xs.filter((x): x is number => x !== null);
  if (ok.length === 0) return "—";
  const miss = xs.length - ok.length;
  return `${fmt(median(ok))} ms (${fmt(Math.min(...ok))} – ${fmt(Math.max(...ok))})${miss > 0 ? `, ${miss} never` : ""}`;
};

export async function durabilityBench(runs: number): Promise<void> {
  const seeds = Array.from({ length: runs }, (_, i) => 101 + i);
  progress(`durability: idle traffic, ${N} nodes, ${KEYS} values`);
  const idle = await idleTraffic(seeds[0]!);
  const heals = [];
  const crashes = [];
  for (const seed of seeds) {
    progress(`durability: partition heal, seed ${seed}`);
    heals.push(await partitionHeal(seed));
    progress(`durability: 20% crash, seed ${seed}`);
    crashes.push(await massCrash(seed));
  }
  console.log(
    `\nDurability on the simulator (${N} nodes, default settings: replication ${DEFAULTS.replication}, r ${DEFAULTS.successorListLength}; 1-5 ms per message; simulated time; seeds ${seeds.join(", ")}; medians (min – max))`,
  );
  console.log(
    `  idle ring with ${fmt(KEYS)} values, per node per minute: ${fmt(idle.bytes / 1024, 1)} KiB in ${fmt(idle.messages)} messages (all maintenance);` +
      ` anti-entropy: ${fmt(idle.syncs, 1)} SyncRange exchanges (${fmt(idle.mismatches, 1)} found a difference),` +
      ` ${fmt((idle.syncs * matchingSyncBytes()) / 1024, 1)} KiB at ${matchingSyncBytes()} bytes per matching exchange`,
  );
  console.log("  partition 50 | 50 for 30 s, writes on both sides, then healed:");
  console.log(`    one consistent ring after        ${cell(heals.map((h) => h.ringMs))}`);
  console.log(`    newest value on every replica set ${cell(heals.map((h) => h.setsMs))}`);
  console.log(`    newest value on every copy        ${cell(heals.map((h) => h.allMs))}`);
  console.log(`  ${N / 5} of ${N} nodes crash at once (${fmt(KEYS)} values):`);
  console.log(`    ring consistent again after      ${cell(crashes.map((c) => c.ringMs))}`);
  console.log(
    `    ${DEFAULTS.replication} copies of every value on its replica set ${cell(crashes.map((c) => c.copiesMs))}`,
  );
  console.log(`    values with no surviving copy     ${crashes.map((c) => c.lost).join(", ")}`);
}
