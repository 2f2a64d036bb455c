// BENCH_ONLY=persist: what data_dir costs. One node in this process (a ring of
// one), one client connection; PUT at depth D = D (PUT k, GET k) pairs
// outstanding, as in the API bench (the GET on the same connection is the
// acknowledgement). Three stores: memory only; LMDB waiting for the sync to
// disk before acknowledging (the default); LMDB waiting only for the commit;
// their runs interleaved.
// Then the restart: a database of 100,000 records (100-byte values) read back
// (open, read and decode) and a whole node started on it (loaded into the
// store, ports bound), medians of the runs.

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiClient } from "../src/client/api-client.js";
import { defaultConfig } from "../src/config/config.js";
import { silentLogger } from "../src/log.js";
import { RingDhtNode } from "../src/node.js";
import { type Durability, LmdbRecords, RECORDS_FILE } from "../src/persist/lmdb-records.js";
import { measure, type RunResult } from "./api-bench.js";
import { fmt, median } from "./harness.js";

const KEYS = 4096;
const VALUE_BYTES = 100;
const RESTART_RECORDS = 100_000;

function configFor(dataDir: string | undefined) {
  return {
    ...defaultConfig(),
    apiAddress: { host: "127.0.0.1", port: 0 },
    p2pAddress: { host: "127.0.0.1", port: 0 },
    httpAddress: undefined,
    dataDir,
  };
}

interface Subject {
  label: string;
  node: RingDhtNode;
  client: ApiClient;
}

async function subject(label: string, dir: string, durability?: Durability): Promise<Subject> {
  const node = await RingDhtNode.start(
    configFor(durability === undefined ? undefined : join(dir, label.replace(/\W+/g, "-"))),
    { log: silentLogger(), ...(durability === undefined ? {} : { durability }) },
  );
  return { label, node, client: await ApiClient.connect("127.0.0.1", node.apiAddress.port) };
}

/**
 * The three stores side by side, their runs interleaved (memory, synced,
 * committed, memory, ...) so that load from elsewhere on a shared machine
 * falls on all three alike.
 */
async function putBench(runs: number, seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "ringdht-bench-"));
  const subjects = [
    await subject("memory", dir),
    await subject("data_dir, synced (default)", dir, "flushed"),
    await subject("data_dir, committed only", dir, "committed"),
  ];
  try {
    const keys = Array.from({ length: KEYS }, () => randomBytes(32));
    const value = randomBytes(VALUE_BYTES);
    for (const depth of [1, 64]) {
      const results = new Map<Subject, RunResult[]>(subjects.map((s) => [s, []]));
      for (let r = 0; r < runs; r++) {
        for (const s of subjects) {
          const put = (k: Buffer) => {
            s.client.put(k, value, 3600);
            return s.client.get(k);
          };
          results.get(s)!.push(await measure(keys, depth, seconds, put));
        }
      }
      for (const [s, rs] of results)
        console.log(
          `${s.label.padEnd(26)} ${String(depth).padStart(9)} ${fmt(median(rs.map((x) => x.opsPerSec))).padStart(12)}` +
            ` ${fmt(median(rs.map((x) => x.p50us))).padStart(10)} us ${fmt(median(rs.map((x) => x.p99us))).padStart(10)} us`,
        );
    }
  } finally {
    for (const s of subjects) {
      s.client.close();
      await s.node.stop("bench");
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

async function restartBench(runs: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "ringdht-bench-"));
  const data = join(dir, "data");
  try {
    const db = LmdbRecords.open(data);
    const now = Date.now();
    for (let i = 0; i < RESTART_RECORDS; i++) {
      db.put(randomBytes(32), {
        value: randomBytes(VALUE_BYTES),
        version: now * 1000 + i,
        deadline: now + 3_600_000,
        replication: 8,
      });
      if (i % 10_000 === 9_999) await db.durable();
    }
    await db.durable();
    await db.close();
    const fileMiB = statSync(join(data, RECORDS_FILE)).size / 2 ** 20;
    const read: number[] = [];
    const start: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      const again = LmdbRecords.open(data);
      let n = 0;
      for (const _ of again.load(Date.now())) n++;
      read.push(performance.now() - t0);
      await again.close();
      if (n !== RESTART_RECORDS) throw new Error(`read back ${n} records`);
      const t1 = performance.now();
      const node = await RingDhtNode.start(configFor(data), { log: silentLogger() });
      start.push(performance.now() - t1);
      const held = node.chord.data.store.size;
      await node.crash();
      if (held !== RESTART_RECORDS) throw new Error(`the node holds ${held} records`);
    }
    console.log(
      `\nRestart with ${fmt(RESTART_RECORDS)} records (${VALUE_BYTES}-byte values, ${fmt(fileMiB, 1)} MiB file, ${runs} runs, medians)`,
    );
    console.log(`read and decode: ${fmt(median(read))} ms`);
    console.log(`node start (load into the store, bind, serve): ${fmt(median(start))} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function persistBench(runs: number, seconds: number): Promise<void> {
  const r = Math.min(runs, 3);
  console.log(
    `\nPersistence: PUT through a node of one (${VALUE_BYTES}-byte values, ${r} runs x ${seconds} s, medians)`,
  );
  console.log("store                      in flight   requests/s   p50 latency   p99 latency");
  await putBench(r, seconds);
  await restartBench(r);
}
