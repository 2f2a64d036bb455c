// What admission costs a forming ring: N nodes started one after another over
// real TCP on 127.0.0.1 (forked ring workers, ring-harness.ts), each joining
// through the first; "join" is the mean start time per node (all joined / N),
// "consistent" the time until every successor and predecessor is right.
// Runs on this build, or on another one to compare (BENCH_FORMATION_SIZES=100,1000).
// Measurement only: nothing here asserts.

import { defaultConfig } from "../src/config/config.js";
import { fmt, median } from "./harness.js";
import { progress, RingCluster } from "./ring-harness.js";

const SIZES = (process.env.BENCH_FORMATION_SIZES ?? "100,1000").split(",").map(Number);
const NODES_PER_PROCESS = 250;
/** BENCH_FORMATION_POW overrides pow_difficulty (to separate the puzzle from the other checks). */
const POW = process.env.BENCH_FORMATION_POW;
const overrides = POW === undefined ? {} : { powDifficulty: Number(POW) };
const TIMEOUT_MS = 240_000;

export async function formationBench(runs: number): Promise<void> {
  const config = { ...defaultConfig(), ...overrides };
  const rows: string[] = [];
  for (const n of SIZES) {
    const joined: number[] = [];
    const consistent: number[] = [];
    let timedOut = 0;
    const r = n >= 1000 ? Math.min(runs, 3) : runs;
    for (let run = 0; run < r; run++) {
      const ring = await RingCluster.create(Math.max(1, Math.ceil(n / NODES_PER_PROCESS)));
      try {
        const tag = `formation N=${n} run ${run + 1}/${r}`;
        const j = await ring.start(n, overrides, "sequential", (k) => {
          if (k % 250 === 0) progress(`${tag}: ${k} joined`);
        });
        const c = await ring.waitConsistent(TIMEOUT_MS, 20, () => {});
        progress(`${tag}: joined ${fmt(j)} ms, consistent ${c === null ? "timed out" : fmt(c)}`);
        joined.push(j);
        if (c === null) timedOut++;
        else consistent.push(c);
      } finally {
        await ring.close();
      }
    }
    rows.push(
      `${String(n).padStart(5)}  ${String(r).padStart(4)}  ${fmt(median(joined) / n, 1).padStart(10)} ms  ${fmt(median(joined)).padStart(10)} ms  ${consistent.length === 0 ? "—" : `${fmt(median(consistent))} ms`}${timedOut > 0 ? ` (${timedOut} timed out)` : ""}`,
    );
  }
  console.log(
    `\nRing formation, sequential joins (pow_difficulty ${"powDifficulty" in config ? String((config as { powDifficulty: number }).powDifficulty) : "none"}, stabilize ${config.stabilizeIntervalMs} ms; medians)`,
  );
  console.log("    N  runs  join/node       all joined     consistent");
  for (const row of rows) console.log(row);
}
