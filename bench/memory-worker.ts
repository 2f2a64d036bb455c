// One measurement of `BENCH_ONLY=memory` in a fresh process (run with
// --expose-gc by bench/memory-bench.ts), printed as one JSON line:
//   testnet N  — (RSS, heap) increase per node for N in-memory testnet nodes,
//                after the ring is consistent (or a time limit), an idle
//                pause and garbage collection;
//   records N B — heap + external bytes per stored record, N PUTs of B-byte
//                values through a lone node (values copied as the API does).

import { randomBytes } from "node:crypto";
import { silentLogger } from "../src/log.js";
import { startTestnet } from "../src/testnet.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const gc = (globalThis as { gc?: () => void }).gc;

async function settle(): Promise<NodeJS.MemoryUsage> {
  if (gc === undefined) throw new Error("run with --expose-gc");
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(50);
  }
  return process.memoryUsage();
}

const opts = (nodes: number) => ({ nodes, host: "127.0.0.1", p2pBasePort: 0, apiBasePort: 0 });

async function testnet(n: number, limitMs: number, idleMs: number) {
  const before = await settle();
  const t0 = performance.now();
  const nodes = await startTestnet(opts(n), silentLogger());
  const ids = nodes.map((x) => x.chord.self.id).sort();
  const place = new Map(ids.map((id, i) => [id, i]));
  const bad = () =>
    nodes.filter((x) => {
      const i = place.get(x.chord.self.id)!;
      return (
        x.chord.table.successors[0]?.id !== ids[(i + 1) % n] ||
        x.chord.table.predecessor?.id !== ids[(i - 1 + n) % n]
      );
    }).length;
  while (bad() > 0 && performance.now() - t0 < limitMs) await sleep(250);
  const consistentMs = bad() === 0 ? performance.now() - t0 : null;
  await sleep(idleMs);
  const after = await settle();
  await Promise.all(nodes.map((x) => x.crash()));
  return {
    nodes: n,
    consistentMs,
    rssPerNode: (after.rss - before.rss) / n,
    heapPerNode: (after.heapUsed - before.heapUsed) / n,
  };
}

async function records(count: number, bytes: number) {
  const [node] = await startTestnet(opts(1), silentLogger());
  if (node === undefined) throw new Error("no node");
  const put = (key: Buffer, value: Buffer) =>
    node.chord.put({ key, value: Buffer.from(value), ttl: 0, replication: 0 });
  for (let i = 0; i < 200; i++) await put(randomBytes(32), randomBytes(bytes));
  const keys = Array.from({ length: count }, () => randomBytes(32));
  const values = Array.from({ length: count }, () => randomBytes(bytes));
  const before = await settle();
  for (let i = 0; i < count; i += 100)
    await Promise.all(keys.slice(i, i + 100).map((k, j) => put(k, values[i + j]!)));
  const after = await settle();
  await node.crash();
  const perRecord = (after.heapUsed + after.external - before.heapUsed - before.external) / count;
  return { records: count, valueBytes: bytes, perRecord, overhead: perRecord - bytes };
}

const [mode, a, b] = process.argv.slice(2);
const result =
  mode === "testnet"
    ? await testnet(
        Number(a),
        Number(process.env.BENCH_MEM_LIMIT_MS ?? 120_000),
        Number(process.env.BENCH_MEM_IDLE_MS ?? 3000),
      )
    : await records(Number(a), Number(b));
console.log(JSON.stringify(result));
process.exit(0);
