// Ring benchmarks: whole rings of in-process nodes over real TCP on 127.0.0.1,
// hosted by forked ring workers (ring-harness.ts), figures as medians of runs.
//   1. Formation: N nodes from the first start until every successor and
//      predecessor is right (polled every 20 ms), and memory per node.
//   2. Hops: random lookups from random nodes on the formed rings.
//   3. API through one node of a 20- and a 100-node ring (as api-bench.ts, random keys).
//   4. Replication restored after a crash without handover.
// Measurement only: nothing here asserts on time.

import { randomBytes } from "node:crypto";
import { cpus } from "node:os";
import { ApiClient } from "../src/client/api-client.js";
import { defaultConfig } from "../src/config/config.js";
import { keyPosition } from "../src/ring/id.js";
import { measure, type RunResult } from "./api-bench.js";
import { fmt, median, quantile } from "./harness.js";
import {
  type CrashWatch,
  fileLimit,
  HOST,
  type LookupSample,
  mean,
  ownerIndex,
  progress,
  RingCluster,
  sleep,
  type WorkerStats,
} from "./ring-harness.js";

/** Nodes per worker process stay well under RLIMIT_NOFILE (~40-60 descriptors per node). */
const NODES_PER_PROCESS = 250;
/** Bounds on one formation run (observed: ~5-8 s for 100 nodes, ~45-90 s for 1,000). */
const FORMATION_TIMEOUT_MS: Record<number, number> = { 100: 60_000, 1000: 150_000 };
/** BENCH_RING_START=waves: concurrent doubling waves instead of startTestnet's order. */
const START_MODE = process.env.BENCH_RING_START === "waves" ? "waves" : "sequential";
const FINGER_SETTLE_MS = 10_000;
const LOOKUPS = 5000;
const LOOKUP_WIDTH_PER_PROCESS = 8;
/** BENCH_API_RINGS=20,100 (default) sets the ring sizes of section 3. */
const API_RINGS = (process.env.BENCH_API_RINGS ?? "20,100").split(",").map(Number);
const API_KEYS = 4096;
const VALUE_BYTES = 100;
const REPL_RING = 20;
const REPL_KEYS = 2000;
const REPL_WANT = 3;
const REPL_TIMEOUT_MS = 60_000;

const processesFor = (n: number): number => Math.max(1, Math.ceil(n / NODES_PER_PROCESS));
const pad = (s: string, n: number): string => s.padStart(n);
const ms = (x: number | null | undefined): string =>
  x === null || x === undefined || Number.isNaN(x) ? "—" : fmt(x);
const medianOrNull = (xs: (number | null)[]): number | null => {
  const ok = xs.filter((x): x is number => x !== null);
  return ok.length === 0 ? null : median(ok);
};

interface FormationCase {
  n: number;
  stabilizeMs: number;
  mode: "sequential" | "waves";
  runs: number;
  /** Lookups on the ring of the first run that became consistent (section 2). */
  hops: boolean;
}

interface FormationRun {
  joinedMs: number;
  consistentMs: number | null;
  memPerNode: number;
  rssPerNode: number;
  peakFds: number;
}

interface HopResult {
  n: number;
  samples: LookupSample[];
  /** CPU cores the ring's processes used while idle (maintenance only), over the settle wait. */
  idleCores: number;
}

export async function ringBench(runs: number, seconds: number): Promise<void> {
  const limit = fileLimit();
  const stabilizeDefault = defaultConfig().stabilizeIntervalMs;
  progress(`RLIMIT_NOFILE soft ${limit.soft}, hard ${limit.hard}`);
  const cases: FormationCase[] = [
    { n: 100, stabilizeMs: stabilizeDefault, mode: START_MODE, runs, hops: true },
    { n: 100, stabilizeMs: 100, mode: START_MODE, runs, hops: false },
    {
      n: 1000,
      stabilizeMs: stabilizeDefault,
      mode: START_MODE,
      runs: Math.min(runs, 3),
      hops: true,
    },
  ];
  const formation: { c: FormationCase; results: FormationRun[] }[] = [];
  const hops: HopResult[] = [];
  for (const c of cases) {
    const results: FormationRun[] = [];
    for (let r = 0; r < c.runs; r++) {
      const wantHops = c.hops && !hops.some((h) => h.n === c.n);
      results.push(await formationRun(c, r, wantHops ? hops : undefined));
    }
    formation.push({ c, results });
  }
  printFormation(formation, limit);
  printHops(hops);
  await ringApiBench(runs, seconds);
  await replicationAfterCrash(runs);
}

// --- 1 and 2: formation, then lookups on the formed ring ---

async function formationRun(
  c: FormationCase,
  run: number,
  hopsOut: HopResult[] | undefined,
): Promise<FormationRun> {
  const procs = processesFor(c.n);
  const tag = `formation N=${c.n} stabilize=${c.stabilizeMs}ms run ${run + 1}/${c.runs}`;
  progress(`${tag}: ${procs} process(es)`);
  const ring = await RingCluster.create(procs);
  try {
    const joinedMs = await ring.start(c.n, { stabilizeIntervalMs: c.stabilizeMs }, c.mode, (k) => {
      if (k % 250 === 0) progress(`${tag}: ${k} nodes joined`);
    });
    progress(`${tag}: all joined after ${fmt(joinedMs)} ms; polling`);
    const consistentMs = await ring.waitConsistent(
      FORMATION_TIMEOUT_MS[c.n] ?? 120_000,
      20,
      (bad, at) => progress(`${tag}: ${bad} nodes still wrong at ${fmt(at / 1000, 1)} s`),
    );
    const stats = await ring.stats();
    progress(
      `${tag}: consistent after ${consistentMs === null ? "(timed out)" : `${fmt(consistentMs)} ms`}`,
    );
    if (hopsOut !== undefined && consistentMs !== null) {
      progress(`hops N=${c.n}: waiting ${FINGER_SETTLE_MS / 1000} s for fingers, then lookups`);
      const cpu = (st: WorkerStats[]) => st.reduce((a, x) => a + x.cpuMicros, 0);
      const [cpu0, t0] = [cpu(await ring.stats()), performance.now()];
      await sleep(FINGER_SETTLE_MS);
      const idleCores = (cpu(await ring.stats()) - cpu0) / 1000 / (performance.now() - t0);
      const samples = await ring.lookups(LOOKUPS, LOOKUP_WIDTH_PER_PROCESS);
      hopsOut.push({ n: c.n, samples, idleCores });
    }
    return { joinedMs, consistentMs, ...memory(stats, c.n) };
  } finally {
    await ring.close();
  }
}

function memory(stats: WorkerStats[], n: number) {
  const sum = (f: (s: WorkerStats) => number) => stats.reduce((a, s) => a + f(s), 0);
  return {
    memPerNode: sum((s) => s.rss - s.baseRss) / n,
    rssPerNode: sum((s) => s.rss) / n,
    peakFds: Math.max(...stats.map((s) => s.peakFds)),
  };
}

function printFormation(
  rows: { c: FormationCase; results: FormationRun[] }[],
  limit: { soft: number; hard: number },
): void {
  console.log(
    "\nRing formation (real TCP on 127.0.0.1; from the first node's start until every successor and predecessor is right, polled every 20 ms; medians)",
  );
  console.log(
    "    N  processes  stabilize  start mode   runs  all joined   consistent  (min – max)            memory/node  (RSS/node)  peak fds/process",
  );
  for (const { c, results } of rows) {
    const done = results.map((r) => r.consistentMs).filter((x): x is number => x !== null);
    const timedOut = results.length - done.length;
    const range = done.length === 0 ? "—" : `${ms(Math.min(...done))} – ${ms(Math.max(...done))}`;
    console.log(
      `${pad(fmt(c.n), 5)} ${pad(String(processesFor(c.n)), 10)} ${pad(`${c.stabilizeMs} ms`, 10)}  ${c.mode.padEnd(11)} ${pad(String(results.length), 4)}` +
        ` ${pad(ms(median(results.map((r) => r.joinedMs))), 8)} ms ${pad(ms(medianOrNull(results.map((r) => r.consistentMs))), 9)} ms` +
        `  (${range} ms)${timedOut > 0 ? ` ${timedOut} timed out` : ""}`.padEnd(25) +
        ` ${pad(fmt(median(results.map((r) => r.memPerNode)) / 1024), 8)} KiB ${pad(fmt(median(results.map((r) => r.rssPerNode)) / 1024), 7)} KiB` +
        ` ${pad(fmt(median(results.map((r) => r.peakFds))), 10)}`,
    );
  }
  console.log(
    `  start mode "sequential": as startTestnet, one node after another, each joining through the first;\n` +
      `  "waves" (BENCH_RING_START=waves): concurrent doubling waves, each node joining through a random joined node.\n` +
      `  Nodes run in ring worker processes (up to ${NODES_PER_PROCESS} each, round-robin; this machine has ${cpus().length} cores): a process\n` +
      `  holds ~40-60 descriptors per node (2 listeners, both ends of its loopback connections) and RLIMIT_NOFILE here is\n` +
      `  ${limit.soft} (hard ${limit.hard}; Node cannot raise it itself), so one process has room for only ~${fmt(limit.soft / 50)} nodes.\n` +
      `  memory/node: (RSS − the worker's RSS before any node started) / N, at consistency.`,
  );
}

function printHops(results: HopResult[]): void {
  if (results.length === 0) return;
  console.log(
    `\nLookup hops (${fmt(LOOKUPS)} lookups of random positions from random nodes, ${LOOKUP_WIDTH_PER_PROCESS} in flight per process, ${FINGER_SETTLE_MS / 1000} s after the ring was consistent; first consistent formation run, default stabilize)`,
  );
  console.log(
    "    N   mean   p50   p99   max   ½·log2(N)   wrong owner   failed   lookup p50    lookup p99   idle ring CPU",
  );
  for (const { n, samples, idleCores } of results) {
    const ok = samples.filter((s) => !s.failed);
    const h = ok.map((s) => s.hops);
    const t = ok.map((s) => s.ms);
    console.log(
      `${pad(fmt(n), 5)} ${pad(fmt(mean(h), 2), 6)} ${pad(String(quantile(h, 0.5)), 5)} ${pad(String(quantile(h, 0.99)), 5)} ${pad(String(Math.max(...h)), 5)}` +
        ` ${pad(fmt(Math.log2(n) / 2, 2), 11)} ${pad(String(samples.filter((s) => s.wrong).length), 13)} ${pad(String(samples.length - ok.length), 8)}` +
        ` ${pad(fmt(quantile(t, 0.5), 2), 9)} ms ${pad(fmt(quantile(t, 0.99), 2), 10)} ms` +
        ` ${pad(fmt(idleCores, 2), 8)} cores`,
    );
  }
  console.log(
    "  hops: peer-to-peer forwards (0 when the asking node or its successor owns the position).\n" +
      `  idle ring CPU: CPU time of the ring's processes over the ${FINGER_SETTLE_MS / 1000} s wait before the lookups (maintenance only), in cores (this machine: ${cpus().length}).`,
  );
}

// --- 3: the API through one node of a ring ---

/** Section 3 alone (BENCH_ONLY=ring-api). */
export async function ringApiBench(runs: number, seconds: number): Promise<void> {
  for (const n of API_RINGS) await apiThroughRing(n, runs, seconds);
}

async function apiThroughRing(n: number, runs: number, seconds: number): Promise<void> {
  progress(`API through one node of a ${n}-node ring: forming`);
  const ring = await RingCluster.create(1);
  try {
    await ring.start(n, {}, "sequential");
    const consistent = await ring.waitConsistent(60_000);
    if (consistent === null) progress("API ring not consistent after 60 s; measuring anyway");
    const entry = ring.nodes[0]!;
    const client = await ApiClient.connect(HOST, entry.apiPort);
    const keys = Array.from({ length: API_KEYS }, () => randomBytes(32));
    const value = randomBytes(VALUE_BYTES);
    for (const k of keys) client.put(k, value, 3600);
    await client.get(keys[API_KEYS - 1]!);
    const others = keys.filter(
      (k) => ring.ids[ownerIndex(ring.ids, keyPosition(k))] !== entry.id,
    ).length;
    const missing = (await Promise.all(keys.map((k) => client.get(k)))).filter(
      (v) => v === undefined,
    ).length;
    const ops: Record<string, (k: Buffer) => Promise<unknown>> = {
      GET: (k) => client.get(k),
      PUT: (k) => {
        client.put(k, value, 3600);
        return client.get(k);
      },
    };
    const rows: string[] = [];
    for (const [name, op] of Object.entries(ops)) {
      for (const depth of [1, 64]) {
        progress(
          `API through ${n}-node ring: ${name} at ${depth} in flight, ${runs} runs x ${seconds} s`,
        );
        const results: RunResult[] = [];
        for (let r = 0; r < runs; r++) results.push(await measure(keys, depth, seconds, op));
        rows.push(
          `${name.padEnd(4)} ${pad(String(depth), 9)} ${pad(fmt(median(results.map((x) => x.opsPerSec))), 12)}` +
            ` ${pad(fmt(median(results.map((x) => x.p50us))), 10)} us ${pad(fmt(median(results.map((x) => x.p99us))), 10)} us`,
        );
      }
    }
    client.close();
    console.log(
      `\nAPI through node 0 of a ${n}-node ring (one client connection, ${fmt(API_KEYS)} random keys, ${VALUE_BYTES}-byte values, ${runs} runs x ${seconds} s, medians;` +
        ` ${fmt((100 * others) / API_KEYS)}% of keys owned by other nodes; ring in one worker process, client in the bench process)`,
    );
    console.log("op   in flight   requests/s   p50 latency   p99 latency");
    for (const row of rows) console.log(row);
    console.log(
      `  PUT completion = the GET on the same connection that follows it; ${missing} of ${fmt(API_KEYS)} preloaded keys missing before the runs.`,
    );
  } finally {
    await ring.close();
  }
}

// --- 4: replication restored after a crash ---

async function replicationAfterCrash(runs: number): Promise<void> {
  const results: CrashWatch[] = [];
  for (let r = 0; r < runs; r++) {
    const tag = `replication run ${r + 1}/${runs}`;
    progress(`${tag}: ${REPL_RING}-node ring, ${REPL_KEYS} keys`);
    const ring = await RingCluster.create(1);
    try {
      await ring.start(REPL_RING, { replication: REPL_WANT }, "sequential");
      if ((await ring.waitConsistent(60_000)) === null) progress(`${tag}: ring not consistent`);
      const put = await ring.putKeys(REPL_KEYS, VALUE_BYTES);
      if (put.failed > 0) progress(`${tag}: ${put.failed} PUTs failed`);
      const deadline = performance.now() + 30_000;
      let before = await ring.replStatus(REPL_WANT);
      while ((before.short > 0 || before.misplaced > 0) && performance.now() < deadline) {
        await sleep(100);
        before = await ring.replStatus(REPL_WANT);
      }
      if (before.short > 0 || before.misplaced > 0)
        progress(`${tag}: before the crash ${before.short} short, ${before.misplaced} misplaced`);
      const watch = await ring.crashAndWatch(REPL_WANT, 20, REPL_TIMEOUT_MS);
      progress(
        `${tag}: crashed a node holding ${watch.held}; ${watch.shortAtCrash} keys short; ` +
          `ring ${ms(watch.ringMs)} ms, ${REPL_WANT} copies ${ms(watch.copiesMs)} ms, in place ${ms(watch.placedMs)} ms`,
      );
      results.push(watch);
    } finally {
      await ring.close();
    }
  }
  const timedOut = (f: (w: CrashWatch) => number | null) =>
    results.filter((w) => f(w) === null).length;
  const cell = (f: (w: CrashWatch) => number | null) => {
    const xs = results.map(f);
    const ok = xs.filter((x): x is number => x !== null);
    const range = ok.length === 0 ? "" : ` (${ms(Math.min(...ok))} – ${ms(Math.max(...ok))})`;
    const to = timedOut(f) > 0 ? `, ${timedOut(f)} not within ${REPL_TIMEOUT_MS / 1000} s` : "";
    return `${ms(medianOrNull(xs))} ms${range}${to}`;
  };
  console.log(
    `\nReplication after a crash (${REPL_RING}-node ring, replication ${REPL_WANT}, ${fmt(REPL_KEYS)} keys of ${VALUE_BYTES} bytes, default stabilize; one random node holding data crashed without handover;` +
      ` polled every 20 ms; ${results.length} runs, fresh ring each, medians (min – max))`,
  );
  console.log(`  copies on the crashed node:         ${fmt(median(results.map((w) => w.held)))}`);
  console.log(
    `  keys below ${REPL_WANT} copies right after:      ${fmt(median(results.map((w) => w.shortAtCrash)))}`,
  );
  console.log(`  ring consistent again:              ${cell((w) => w.ringMs)}`);
  console.log(`  every key with ${REPL_WANT} live copies:       ${cell((w) => w.copiesMs)}`);
  console.log(`  every key on owner + ${REPL_WANT - 1} successors:  ${cell((w) => w.placedMs)}`);
}
