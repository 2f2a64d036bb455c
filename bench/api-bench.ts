// Single-node API benchmark: one spawned node, one client connection.
// GET at depth D: D GETs outstanding, each reply triggers the next.
// PUT at depth D: D (PUT k, GET k) pairs outstanding; PUT has no reply, so the
// GET on the same connection is the fence (read-your-writes): a PUT counts as
// done, and its latency ends, when that GET's reply arrives.

import { randomBytes } from "node:crypto";
import { ApiClient } from "../src/client/api-client.js";
import { fmt, median, quantile, spawnNode } from "./harness.js";

export interface RunResult {
  opsPerSec: number;
  p50us: number;
  p99us: number;
}

const KEYS = 4096;
const VALUE_BYTES = 100;

/** `depth` operations outstanding for `seconds`; the latency of each, and the rate. */
export async function measure(
  keys: Buffer[],
  depth: number,
  seconds: number,
  op: (key: Buffer) => Promise<unknown>,
): Promise<RunResult> {
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const key = keys[next++ % keys.length]!;
      const t0 = performance.now();
      await op(key);
      latencies.push((performance.now() - t0) * 1000);
    }
  };
  await Promise.all(Array.from({ length: depth }, worker));
  const elapsed = (performance.now() - start) / 1000;
  return {
    opsPerSec: latencies.length / elapsed,
    p50us: quantile(latencies, 0.5),
    p99us: quantile(latencies, 0.99),
  };
}

export async function apiBench(runs: number, seconds: number): Promise<void> {
  const node = await spawnNode("api_address = 127.0.0.1:0\nlog_level = info\n");
  try {
    const client = await ApiClient.connect("127.0.0.1", node.apiPort);
    const keys = Array.from({ length: KEYS }, () => randomBytes(32));
    const value = randomBytes(VALUE_BYTES);
    for (const k of keys) client.put(k, value, 3600);
    await client.get(keys[KEYS - 1]!);
    const ops: Record<string, (k: Buffer) => Promise<unknown>> = {
      GET: (k) => client.get(k),
      PUT: (k) => {
        client.put(k, value, 3600);
        return client.get(k);
      },
    };
    console.log(
      `\nSingle-node API (${VALUE_BYTES}-byte values, ${runs} runs x ${seconds} s, medians)`,
    );
    console.log("op   in flight   requests/s   p50 latency   p99 latency");
    for (const [name, op] of Object.entries(ops)) {
      for (const depth of [1, 64]) {
        const results: RunResult[] = [];
        for (let r = 0; r < runs; r++) results.push(await measure(keys, depth, seconds, op));
        console.log(
          `${name.padEnd(4)} ${String(depth).padStart(9)} ${fmt(median(results.map((x) => x.opsPerSec))).padStart(12)}` +
            ` ${fmt(median(results.map((x) => x.p50us))).padStart(10)} us ${fmt(median(results.map((x) => x.p99us))).padStart(10)} us`,
        );
      }
    }
    client.close();
  } finally {
    await node.stop();
  }
}
