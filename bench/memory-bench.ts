// Memory (`BENCH_ONLY=memory`): RSS of an idle single-node process (`ringdht
// node`, JSON logs, free ports) after BENCH_MEM_IDLE_S seconds (default 5);
// RSS and heap increase per node with N nodes in one process as `ringdht
// testnet` runs them (BENCH_MEM_NODES, default 100,500,2000; at most
// BENCH_MEM_LIMIT_MS (120 s) for the ring to become consistent, then 3 s
// idle and garbage collection); heap + external bytes per stored record (20,000
// PUTs of 100-byte values through a lone node). Each figure is measured in a
// fresh process (bench/memory-worker.ts) and is the median of min(BENCH_RUNS, 3)
// runs. RSS needs Linux's /proc. Measurement only: nothing here asserts.

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { fmt, median, spawnNode } from "./harness.js";

const WORKER = fileURLToPath(new URL("./memory-worker.js", import.meta.url));
const run = promisify(execFile);
const KiB = 1024;

export interface MemoryBenchResult {
  idleRssMiB: number;
  perNode: { nodes: number; rssKiB: number; heapKiB: number; consistent: number }[];
  recordBytes: number;
  recordOverheadBytes: number;
}

const rssOf = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? Number.NaN : Number(m[1]) * KiB;
};

async function idleRss(seconds: number): Promise<number> {
  const node = await spawnNode("api_address = 127.0.0.1:0\np2p_address = 127.0.0.1:0");
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const rss = rssOf(node.proc.pid!);
  await node.stop();
  return rss;
}

async function worker<T>(...args: string[]): Promise<T> {
  const { stdout } = await run(process.execPath, ["--expose-gc", WORKER, ...args], {
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split("\n").pop()!) as T;
}

export async function memoryBench(runs = 3): Promise<MemoryBenchResult> {
  const n = Math.max(1, Math.min(runs, 3));
  const idleS = Number(process.env.BENCH_MEM_IDLE_S ?? 5);
  const sizes = (process.env.BENCH_MEM_NODES ?? "100,500,2000").split(",").map(Number);
  console.log(`\n## Memory (median of ${n} runs, each in a fresh process)\n`);
  const load = () => loadavg()[0]!.toFixed(2);
  const idle: number[] = [];
  for (let i = 0; i < n; i++) idle.push(await idleRss(idleS));
  const idleRssMiB = median(idle) / KiB / KiB;
  console.log(`idle single node (\`ringdht node\`, ${idleS} s): RSS ${fmt(idleRssMiB, 1)} MiB`);
  console.log("\n|     N | RSS / node | heap / node | consistent | load (1 min) |");
  console.log("| ----: | ---------: | ----------: | ---------: | -----------: |");
  const perNode: MemoryBenchResult["perNode"] = [];
  for (const nodes of sizes) {
    const rs: { rssPerNode: number; heapPerNode: number; consistentMs: number | null }[] = [];
    for (let i = 0; i < n; i++) rs.push(await worker("testnet", String(nodes)));
    const row = {
      nodes,
      rssKiB: median(rs.map((r) => r.rssPerNode)) / KiB,
      heapKiB: median(rs.map((r) => r.heapPerNode)) / KiB,
      consistent: rs.filter((r) => r.consistentMs !== null).length,
    };
    perNode.push(row);
    console.log(
      `| ${fmt(nodes).padStart(5)} | ${fmt(row.rssKiB, 1)} KiB | ${fmt(row.heapKiB, 1)} KiB | ${row.consistent}/${n} runs | ${load()} |`,
    );
  }
  const recs: { perRecord: number; overhead: number }[] = [];
  for (let i = 0; i < n; i++) recs.push(await worker("records", "20000", "100"));
  const recordBytes = median(recs.map((r) => r.perRecord));
  const recordOverheadBytes = median(recs.map((r) => r.overhead));
  console.log(
    `\nstored record, 100-byte value: ${fmt(recordBytes)} bytes (${fmt(recordOverheadBytes)} beyond the value)`,
  );
  return { idleRssMiB, perNode, recordBytes, recordOverheadBytes };
}
