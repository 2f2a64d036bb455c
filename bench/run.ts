// `npm run bench`: every benchmark, figures as medians of several runs.
// BENCH_RUNS and BENCH_SECONDS shorten or lengthen the runs.

import { cpus, totalmem } from "node:os";
import { apiBench } from "./api-bench.js";

const runs = Number(process.env.BENCH_RUNS ?? 5);
const seconds = Number(process.env.BENCH_SECONDS ?? 2);

console.log(
  `ringdht bench — ${cpus().length} x ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
);
await apiBench(runs, seconds);
