// `npm run bench`: every benchmark, figures as medians of several runs.
// BENCH_RUNS and BENCH_SECONDS shorten or lengthen the runs (the 1,000-node
// ring takes at most 3 runs); BENCH_ONLY=api or BENCH_ONLY=ring (comma-separated)
// (or ring-api, durability, pow, attack, formation, api-attack, sim-scale, memory, persist) selects parts. Ring only: BENCH_RING_START=waves joins nodes concurrently
// instead of in startTestnet's order; BENCH_RING_LOG=warn shows the nodes' logs.

import { cpus, totalmem } from "node:os";
import { apiAttackBench } from "./api-attack-bench.js";
import { apiBench } from "./api-bench.js";
import { attackBench } from "./attack-bench.js";
import { durabilityBench } from "./durability-bench.js";
import { formationBench } from "./formation-bench.js";
import { memoryBench } from "./memory-bench.js";
import { persistBench } from "./persist-bench.js";
import { powBench } from "./pow-bench.js";
import { ringApiBench, ringBench } from "./ring-bench.js";
import { simScaleBench } from "./sim-scale-bench.js";

const runs = Number(process.env.BENCH_RUNS ?? 5);
const seconds = Number(process.env.BENCH_SECONDS ?? 2);
const parts = {
  api: apiBench,
  ring: ringBench,
  "ring-api": ringApiBench,
  durability: (r: number) => durabilityBench(Math.min(r, 5)),
  pow: (r: number) => powBench(r),
  attack: (r: number) => attackBench(r),
  formation: (r: number) => formationBench(r),
  "api-attack": apiAttackBench,
  "sim-scale": (r: number) => simScaleBench(r),
  memory: (r: number) => memoryBench(r),
  persist: persistBench,
};
const only = (process.env.BENCH_ONLY ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter((s) => s !== "");
const unknown = only.filter((p) => !(p in parts));
if (unknown.length > 0) {
  console.error(
    `BENCH_ONLY: unknown part(s) ${unknown.join(", ")}; known: ${Object.keys(parts).join(", ")}`,
  );
  process.exit(2);
}

console.log(
  `ringdht bench — ${cpus().length} x ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
);
for (const [name, bench] of Object.entries(parts))
  if (only.length === 0 || only.includes(name)) await bench(runs, seconds);
