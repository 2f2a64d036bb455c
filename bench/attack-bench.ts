// Resource attacks on the peer port, measured on a real node process: its peak
// RSS (sampled every 25 ms from /proc) under each attack, and whether a client
// and a peer were still served during it. Medians of runs. Each attack runs on
// a fresh node with the default configuration (loopback: per-IP caps off).
// BENCH_NODE_CLI=path/to/dist/src/cli/main.js measures another build (before/after).
// Measurement only: nothing here asserts.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { ApiClient } from "../src/client/api-client.js";
import { fmt, median } from "./harness.js";

const CLI =
  process.env.BENCH_NODE_CLI ?? fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const MiB = 1024 * 1024;
const FRAME = 4 * MiB;

interface Victim {
  proc: ChildProcess;
  api: number;
  p2p: number;
}

async function startVictim(): Promise<Victim> {
  const dir = mkdtempSync(join(tmpdir(), "ringdht-attack-"));
  const file = join(dir, "node.ini");
  writeFileSync(
    file,
    "[dht]\napi_address = 127.0.0.1:0\np2p_address = 127.0.0.1:0\nhttp_address =\n",
  );
  const proc = spawn(process.execPath, [CLI, "node", "-c", file], {
    env: { ...process.env, RINGDHT_LOG_FORMAT: "json", RINGDHT_LOG_LEVEL: "info" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let p2p = 0;
  return new Promise((resolve, reject) => {
    proc.once("exit", (code) => reject(new Error(`victim exited with ${code}`)));
    createInterface({ input: proc.stderr! }).on("line", (line) => {
      const peer = /"p2p":"127\.0\.0\.1:(\d+)"/.exec(line);
      if (peer !== null) p2p = Number(peer[1]);
      const api = /"api":"127\.0\.0\.1:(\d+)","msg":"API listening"/.exec(line);
      if (api !== null) resolve({ proc, api: Number(api[1]), p2p });
    });
  });
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** A connection that swallows its errors (the victim resetting it is an expected outcome). */
function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port });
    let connected = false;
    s.on("error", (err) => {
      if (!connected) reject(err);
    });
    s.once("connect", () => {
      connected = true;
      resolve(s);
    });
  });
}

/** One peer request frame (prove: answered before any hello) and its round trip. */
async function peerServed(port: number): Promise<boolean> {
  const s = await open(port).catch(() => undefined);
  if (s === undefined) return false;
  const { Packr } = await import("msgpackr");
  const { crc32 } = await import("node:zlib");
  const payload = new Packr({ useRecords: false }).pack({
    v: 2,
    t: 16,
    id: 1,
    b: { ticket: randomBytes(16) },
  });
  const head = Buffer.alloc(8);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE(crc32(payload), 4);
  s.write(Buffer.concat([head, payload]));
  const ok = await new Promise<boolean>((resolve) => {
    s.once("data", () => resolve(true));
    s.once("close", () => resolve(false));
    setTimeout(() => resolve(false), 3000);
  });
  s.destroy();
  return ok;
}

async function clientServed(api: number): Promise<boolean> {
  try {
    const c = await ApiClient.connect("127.0.0.1", api);
    const key = randomBytes(32);
    c.put(key, Buffer.from("x"), 60, 0);
    const got = await Promise.race([
      c.get(key),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000)),
    ]);
    c.close();
    return got !== undefined;
  } catch {
    return false;
  }
}

type Attack = (v: Victim) => Promise<() => void>;

/** Opens `n` connections that never send a byte; returns what closes them. */
async function idle(port: number, n: number): Promise<() => void> {
  const socks: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = await open(port).catch(() => undefined);
    if (s !== undefined) socks.push(s);
  }
  return () => {
    for (const s of socks) s.destroy();
  };
}

const ATTACKS: Record<string, Attack> = {
  "300 x unfinished 4 MiB frames": async (v) => {
    const frame = Buffer.alloc(8 + FRAME - 1, 0x61);
    frame.writeUInt32BE(FRAME, 0);
    const socks: Socket[] = [];
    for (let i = 0; i < 300; i++) {
      const s = await open(v.p2p).catch(() => undefined);
      if (s === undefined) continue;
      socks.push(s);
      await new Promise<void>((r) => s.write(frame, () => r()));
    }
    return () => {
      for (const s of socks) s.destroy();
    };
  },
  "4,096 idle peer connections": (v) => idle(v.p2p, 4096),
  "2,000 idle API connections": (v) => idle(v.api, 2000),
};

interface Sample {
  idle: number;
  peak: number;
  client: boolean;
  peer: boolean;
}

async function runOnce(attack: Attack): Promise<Sample> {
  const v = await startVictim();
  const pid = v.proc.pid!;
  await new Promise((r) => setTimeout(r, 500));
  const idle = rssOf(pid);
  let peak = idle;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssOf(pid));
  }, 25);
  const stop = await attack(v);
  const [client, peer] = await Promise.all([clientServed(v.api), peerServed(v.p2p)]);
  peak = Math.max(peak, rssOf(pid));
  clearInterval(timer);
  stop();
  v.proc.kill("SIGKILL");
  return { idle, peak, client, peer };
}

export async function attackBench(runs: number): Promise<void> {
  const n = Math.min(runs, 3);
  console.log(`\n== Resource attacks on one node process (${n} runs each, median; ${CLI})`);
  console.log(
    "attack                               idle RSS   peak RSS   client served  peer served",
  );
  for (const [name, attack] of Object.entries(ATTACKS)) {
    const samples: Sample[] = [];
    for (let i = 0; i < n; i++) samples.push(await runOnce(attack));
    const mb = (x: number) => `${fmt(x / MiB)} MiB`;
    console.log(
      `${name.padEnd(36)} ${mb(median(samples.map((s) => s.idle))).padStart(9)} ${mb(median(samples.map((s) => s.peak))).padStart(10)}   ${`${samples.filter((s) => s.client).length}/${n}`.padStart(13)}  ${`${samples.filter((s) => s.peer).length}/${n}`.padStart(11)}`,
    );
  }
}
