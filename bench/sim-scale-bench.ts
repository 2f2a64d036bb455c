// The simulator at scale (BENCH_ONLY=sim-scale): N real ChordNodes on the
// in-memory network and a manual clock (test/sim/scale.ts), N = 1,000, 5,000
// and 10,000 (BENCH_SIM_SIZES), seeds 1..runs (at most 3): the ring seeded in
// bulk, 1.5 s of simulated maintenance, a wave of N/100 concurrent joiners,
// then 2,000 checked lookups of random positions from random nodes. Prints
// medians over the seeds of wall and simulated times and hop counts.
// Each (N, seed) runs in a fresh child process, forked with this module as the
// worker (RINGDHT_SIM_SCALE_WORKER), with a larger young generation: with
// 10^4 nodes' state in the old generation, each scavenge has most of the
// heap's pointers into the young one to scan, and the default 16 MiB
// semi-space made scavenges about half of the run.
// Measurement only: nothing here asserts.

import { fork } from "node:child_process";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { runScale, type ScaleResult } from "../test/sim/scale.js";
import { fmt, median } from "./harness.js";

const SIZES = (process.env.BENCH_SIM_SIZES ?? "1000,5000,10000").split(",").map(Number);
const WINDOW_MS = 1500;
const LOOKUPS = 2000;
const WORKER_ENV = "RINGDHT_SIM_SCALE_WORKER";
const SEMI_SPACE_MB = 128;

/** One run in a child process; resolves with its result. */
function runInChild(nodes: number, seed: number): Promise<ScaleResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [String(nodes), String(seed)], {
      env: { ...process.env, [WORKER_ENV]: "1" },
      execArgv: [`--max-semi-space-size=${SEMI_SPACE_MB}`],
    });
    let result: ScaleResult | undefined;
    child.on("message", (m) => {
      result = m as ScaleResult;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (result !== undefined) resolve(result);
      else reject(new Error(`sim-scale worker N=${nodes} seed ${seed} exited with ${code}`));
    });
  });
}

const med = (rs: ScaleResult[], f: (r: ScaleResult) => number): number => median(rs.map(f));
const secs = (ms: number): string => `${fmt(ms / 1000, 1)} s`;
const load = (): string => loadavg()[0]!.toFixed(1);

export async function simScaleBench(runs: number): Promise<void> {
  const seeds = Array.from({ length: Math.min(runs, 3) }, (_, i) => i + 1);
  const rows: string[] = [];
  const notes: string[] = [];
  for (const n of SIZES) {
    const rs: ScaleResult[] = [];
    for (const seed of seeds) {
      const r = await runInChild(n, seed);
      process.stderr.write(
        `  sim-scale N=${n} seed ${seed}: seed ${secs(r.seedWallMs)}, window ${secs(r.windowWallMs)}, joins ${secs(r.joinWallMs)}, lookups ${secs(r.hopsWallMs)}; load ${load()}\n`,
      );
      rs.push(r);
    }
    const bad = rs.filter(
      (r) =>
        !r.seededExact ||
        !r.windowConsistent ||
        r.windowFingers.exact !== r.windowFingers.set ||
        r.joinConvergedMs < 0 ||
        r.hops.wrong + r.hops.failed > 0,
    );
    if (bad.length > 0) notes.push(`N=${n}: seeds ${bad.map((r) => r.seed).join(", ")} not clean`);
    const wall = (r: ScaleResult) => r.seedWallMs + r.windowWallMs + r.joinWallMs + r.hopsWallMs;
    rows.push(
      [
        fmt(n).padStart(6),
        secs(med(rs, (r) => r.seedWallMs)).padStart(7),
        secs(med(rs, (r) => r.windowWallMs)).padStart(7),
        fmt(
          med(rs, (r) => r.windowMessages / n / (WINDOW_MS / 1000)),
          1,
        ).padStart(8),
        String(Math.ceil(n / 100)).padStart(7),
        `${fmt(med(rs, (r) => r.joinedMs))} / ${fmt(med(rs, (r) => r.joinConvergedMs))} ms`.padStart(
          16,
        ),
        secs(med(rs, (r) => r.joinWallMs)).padStart(7),
        fmt(
          med(rs, (r) => r.hops.mean),
          2,
        ).padStart(6),
        String(med(rs, (r) => r.hops.p50)).padStart(4),
        String(med(rs, (r) => r.hops.p99)).padStart(4),
        String(med(rs, (r) => r.hops.max)).padStart(4),
        fmt(0.5 * Math.log2(n), 2).padStart(9),
        secs(med(rs, (r) => r.hopsWallMs)).padStart(7),
        secs(med(rs, wall)).padStart(7),
      ].join("  "),
    );
  }
  console.log(
    `\nSimulator at scale (real ChordNodes, in-memory network, manual clock, 1-5 ms per message; seeds ${seeds.join(", ")}; medians; wall = this machine, sim = simulated)`,
  );
  console.log(
    "     N     seed   window  msgs/node/s  joiners  joined / consistent  joins    mean   p50  p99  max  ½·log2 N  lookups   total",
  );
  for (const row of rows) console.log(row);
  console.log(
    `  seed: build N nodes with routing tables from the sorted IDs (consistent, fingers exact, at sim time 0).
  window: ${WINDOW_MS / 1000} s simulated maintenance on the seeded ring (it stayed consistent with exact fingers: ${notes.length === 0 ? "every run" : "see below"}); msgs/node/s in it.
  joins: N/100 nodes join at once through random members (real join: lookup, proof of work, split); simulated ms until all joined / ring consistent again (checked every 50 ms).
  hops: ${LOOKUPS} checked lookups of random positions from random nodes after the joins (GetNode forwards; every answer checked against the true owner).${notes.map((s) => `\n  ${s}`).join("")}`,
  );
}

if (process.env[WORKER_ENV] === "1") {
  const [nodes, seed] = process.argv.slice(2).map(Number) as [number, number];
  const r = await runScale(seed, {
    nodes,
    windowMs: WINDOW_MS,
    joiners: Math.ceil(nodes / 100),
    lookups: LOOKUPS,
  });
  process.send!(r, () => process.exit(0));
}
