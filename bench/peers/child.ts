// The child process of `npm run bench:peers` for the systems written in
// JavaScript (ringdht, hyperdht, bittorrent-dht): hosts one system's N nodes
// and runs the runner's requests (protocol.ts) as JSON lines over stdio.
// Usage: node dist/bench/peers/child.js ringdht|hyperdht|bittorrent-dht [pow]

import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { bittorrentSystem } from "./bittorrent-system.js";
import { hyperdhtSystem } from "./hyperdht-system.js";
import {
  cdfPoints,
  type LoadResult,
  type PeerOp,
  type PeerReplyLine,
  type PeerRequestLine,
  type PeerRequests,
} from "./protocol.js";
import { ringdhtSystem } from "./ringdht-system.js";
import type { PeerSystem } from "./system.js";

const FORM_TIMEOUT_MS = 120_000;
const PROBE_VALUE_BYTES = 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `task(i)` for i in 0..count-1, at most `width` at a time. */
async function pool(count: number, width: number, task: (i: number) => Promise<void>) {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

class Workload {
  private t0 = 0;
  private n = 0;
  private readonly stopped = new Set<number>();
  private handles: string[] = [];

  constructor(private readonly sys: PeerSystem) {}

  private randomLive(): number {
    for (;;) {
      const i = Math.floor(Math.random() * this.n);
      if (!this.stopped.has(i)) return i;
    }
  }

  async start(n: number): Promise<PeerRequests["start"]["result"]> {
    this.n = n;
    this.t0 = performance.now();
    for (let i = 0; i < n; i++) await this.sys.startNode(i);
    const joinedMs = performance.now() - this.t0;
    const deadline = performance.now() + FORM_TIMEOUT_MS;
    for (;;) {
      let all = true;
      for (let i = 0; i < n && all; i++) all = this.sys.formed(i);
      if (all) {
        const formedMs = performance.now() - this.t0;
        // The harness's own step (a compacting collection for ringdht, 0.5-0.7 s at
        // 2,000 nodes): left out of the time to consistency, which counts from t0.
        const before = performance.now();
        this.sys.afterFormed?.();
        this.t0 += performance.now() - before;
        return { joinedMs, formedMs, note: this.sys.formedNote };
      }
      if (performance.now() > deadline)
        return { joinedMs, formedMs: null, note: this.sys.formedNote };
      await sleep(20);
    }
  }

  async consistency(keys: number, samples: number, timeoutMs: number) {
    const deadline = performance.now() + timeoutMs;
    const handles: string[] = [];
    // A probe whose PUT fails is put again (through another node) until the deadline.
    await pool(keys, 16, async () => {
      while (performance.now() < deadline) {
        const h = await this.sys.put(
          this.randomLive(),
          randomBytes(32),
          randomBytes(PROBE_VALUE_BYTES),
        );
        if (h !== null) return void handles.push(h);
      }
    });
    let rounds = 0;
    while (handles.length === keys && performance.now() < deadline) {
      rounds++;
      let missing = 0;
      await pool(keys * samples, 16, async (j) => {
        if (!(await this.sys.get(this.randomLive(), handles[j % keys]!))) missing++;
      });
      if (missing === 0) return { consistentMs: performance.now() - this.t0, rounds };
      await sleep(100);
    }
    return { consistentMs: null, rounds };
  }

  async preload(count: number, valueBytes: number) {
    const handles: string[] = [];
    await pool(count, 16, async () => {
      const h = await this.sys.put(this.randomLive(), randomBytes(32), randomBytes(valueBytes));
      if (h !== null) handles.push(h);
    });
    this.handles = handles;
    return { stored: handles.length };
  }

  async load(a: PeerRequests["load"]["args"]): Promise<LoadResult> {
    const latencies: number[] = [];
    let failed = 0;
    let next = 0;
    const start = performance.now();
    const end = start + a.seconds * 1000;
    const op =
      a.op === "put"
        ? async () =>
            (await this.sys.put(a.via, randomBytes(32), randomBytes(a.valueBytes))) !== null
        : () => this.sys.get(a.via, this.handles[next++ % this.handles.length]!);
    if (a.op === "get" && this.handles.length === 0) throw new Error("no preloaded keys");
    const worker = async (): Promise<void> => {
      while (performance.now() < end) {
        const t = performance.now();
        const ok = await op();
        if (ok) latencies.push((performance.now() - t) * 1000);
        else failed++;
      }
    };
    await Promise.all(Array.from({ length: a.depth }, worker));
    const elapsed = (performance.now() - start) / 1000;
    const sorted = [...latencies].sort((x, y) => x - y);
    return {
      ops: latencies.length,
      failed,
      opsPerSec: latencies.length / elapsed,
      p50us: quantile(sorted, 0.5),
      p99us: quantile(sorted, 0.99),
      cdfUs: cdfPoints(sorted),
    };
  }

  async stopNodes(fraction: number, spare: number) {
    const candidates = Array.from({ length: this.n }, (_, i) => i).filter(
      (i) => i !== spare && !this.stopped.has(i),
    );
    for (let i = candidates.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
    }
    const victims = candidates.slice(0, Math.round(this.n * fraction));
    for (const v of victims) this.stopped.add(v);
    await Promise.all(victims.map((v) => this.sys.stopNode(v)));
    return { stopped: victims.length };
  }

  async getAll(via: number, depth: number) {
    let found = 0;
    await pool(this.handles.length, depth, async (j) => {
      if (await this.sys.get(via, this.handles[j]!)) found++;
    });
    return { found, tried: this.handles.length };
  }
}

async function makeSystem(name: string, pow: number): Promise<PeerSystem> {
  if (name === "ringdht") return ringdhtSystem(pow);
  if (name === "hyperdht") return hyperdhtSystem();
  if (name === "bittorrent-dht") return bittorrentSystem();
  throw new Error(`unknown system ${name}`);
}

async function main(): Promise<void> {
  const sys = await makeSystem(process.argv[2] ?? "", Number(process.argv[3] ?? 8));
  const w = new Workload(sys);
  const send = (line: PeerReplyLine): void => {
    process.stdout.write(`${JSON.stringify(line)}\n`);
  };
  type Handler<K extends PeerOp> = (
    a: PeerRequests[K]["args"],
  ) => Promise<PeerRequests[K]["result"]>;
  const handlers: { [K in PeerOp]: Handler<K> } = {
    start: (a) => w.start(a.n),
    consistency: (a) => w.consistency(a.keys, a.samples, a.timeoutMs),
    preload: (a) => w.preload(a.count, a.valueBytes),
    load: (a) => w.load(a),
    stopNodes: (a) => w.stopNodes(a.fraction, a.spare),
    getAll: (a) => w.getAll(a.via, a.depth),
    close: async () => {
      await Promise.race([sys.closeAll(), sleep(10_000)]);
      return null;
    },
  };
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (text) => {
    const req = JSON.parse(text) as PeerRequestLine;
    const handler = handlers[req.op] as (a: unknown) => Promise<unknown>;
    handler(req.args).then(
      (result) => {
        send({ id: req.id, ok: true, result: result ?? null });
        if (req.op === "close") setTimeout(() => process.exit(0), 50);
      },
      (err: Error) => send({ id: req.id, ok: false, error: err.stack ?? String(err) }),
    );
  });
  lines.on("close", () => process.exit(0));
  send({ ready: true, system: sys.name, version: sys.version });
}

await main();
