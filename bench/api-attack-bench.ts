// API attack cost: one node in this process (default settings, so
// max_api_connections = 1024), attacked by many idle connections and by
// connections each holding a half-sent maximal PUT (65,535 bytes but its last
// byte). Reports the process's RSS before and during the attack, how many
// attacking connections the node still held, whether a legitimate client got
// in and was served meanwhile, and how long the half-sent ones were held.
// RSS is this whole process: node and attacker (the attacker's sockets cost
// little: its sent bytes sit in kernel buffers, which are not RSS).
// Needs about 2 descriptors per connection (RLIMIT_NOFILE). `npm run bench`
// with BENCH_ONLY=api-attack, or run this file directly for JSON.

import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { ApiClient } from "../src/client/api-client.js";
import { parseConfig } from "../src/config/config.js";
import { silentLogger } from "../src/log.js";
import type { ApiTuning } from "../src/net/api-server.js";
import { RingDhtNode } from "../src/node.js";
import { API_MAX_VALUE_BYTES, encodeApi } from "../src/wire/api.js";
import { fmt } from "./harness.js";

export interface ApiAttackOptions {
  idle?: number;
  halfSent?: number;
  /** Extra [dht] lines (e.g. max_api_connections = 64). */
  config?: string;
  /** API deadlines other than the node's defaults. */
  api?: ApiTuning;
  /** Also wait until the node has closed every half-sent connection (default true). */
  waitForDeadline?: boolean;
}

export interface ApiAttackResult {
  idle: number;
  halfSent: number;
  rssBeforeBytes: number;
  /** After every attacking connection was open and its bytes sent. */
  rssDuringBytes: number;
  /** Peak RSS of the process so far (getrusage). */
  rssPeakBytes: number;
  /** Attacking connections the node still held when RSS was measured. */
  idleHeld: number;
  halfSentHeld: number;
  /** A client connecting during the attack had its PUT and GET answered. */
  legitServed: boolean;
  legitMs: number;
  /** From the last half-sent write until the node had closed them all (undefined if not awaited). */
  halfSentClosedAfterMs: number | undefined;
  rssAfterBytes: number | undefined;
}

const LEGIT_TIMEOUT_MS = 10_000;

interface Held {
  socket: Socket;
  closed: Promise<void>;
}

function open(port: number): Promise<Held> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const closed = new Promise<void>((done) => socket.once("close", () => done()));
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      socket.on("error", () => {});
      resolve({ socket, closed });
    });
  });
}

async function openMany(port: number, count: number, parallel = 100): Promise<Held[]> {
  const held: Held[] = [];
  for (let done = 0; done < count; done += parallel) {
    const batch = Math.min(parallel, count - done);
    held.push(...(await Promise.all(Array.from({ length: batch }, () => open(port)))));
  }
  return held;
}

const write = (socket: Socket, bytes: Buffer): Promise<void> =>
  new Promise((resolve) => socket.write(bytes, () => resolve()));

async function legitRoundTrip(port: number): Promise<{ served: boolean; ms: number }> {
  const t0 = performance.now();
  let client: ApiClient | undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), LEGIT_TIMEOUT_MS);
  });
  const attempt = (async () => {
    client = await ApiClient.connect("127.0.0.1", port);
    const key = randomBytes(32);
    const value = randomBytes(100);
    client.put(key, value);
    return (await client.get(key))?.equals(value) === true;
  })().catch(() => false);
  const served = await Promise.race([attempt, timeout]);
  clearTimeout(timer);
  client?.close();
  return { served, ms: performance.now() - t0 };
}

const rss = (): number => process.memoryUsage().rss;
const countOpen = (held: Held[]): number => held.filter((h) => !h.socket.destroyed).length;

export async function apiAttackRss(opts: ApiAttackOptions = {}): Promise<ApiAttackResult> {
  const idleCount = opts.idle ?? 2000;
  const halfSentCount = opts.halfSent ?? 300;
  const text = `[dht]\napi_address = 127.0.0.1:0\np2p_address = 127.0.0.1:0\nhttp_address =\n${opts.config ?? ""}\n`;
  const node = await RingDhtNode.start(parseConfig(text, "(api-attack bench)").config, {
    log: silentLogger(),
    api: opts.api,
  });
  const port = node.apiAddress.port;
  const held: Held[] = [];
  try {
    await legitRoundTrip(port); // warm up the code paths measured below
    const rssBeforeBytes = rss();

    const idle = await openMany(port, idleCount);
    held.push(...idle);
    const frame = encodeApi({
      type: "put",
      ttl: 0,
      replication: 0,
      key: randomBytes(32),
      value: Buffer.alloc(API_MAX_VALUE_BYTES, 0x61),
    });
    const partial = frame.subarray(0, frame.length - 1);
    const halfSent = await openMany(port, halfSentCount);
    held.push(...halfSent);
    await Promise.all(halfSent.map((h) => write(h.socket, partial)));
    const sentAt = performance.now();

    const legit = await legitRoundTrip(port);
    const rssDuringBytes = rss();
    const idleHeld = countOpen(idle);
    const halfSentHeld = countOpen(halfSent);
    const rssPeakBytes = process.resourceUsage().maxRSS * 1024;

    let halfSentClosedAfterMs: number | undefined;
    let rssAfterBytes: number | undefined;
    if (opts.waitForDeadline ?? true) {
      await Promise.all(halfSent.map((h) => h.closed));
      halfSentClosedAfterMs = performance.now() - sentAt;
      rssAfterBytes = rss();
    }
    return {
      idle: idleCount,
      halfSent: halfSentCount,
      rssBeforeBytes,
      rssDuringBytes,
      rssPeakBytes,
      idleHeld,
      halfSentHeld,
      legitServed: legit.served,
      legitMs: legit.ms,
      halfSentClosedAfterMs,
      rssAfterBytes,
    };
  } finally {
    for (const h of held) h.socket.destroy();
    await node.stop("api-attack bench done");
  }
}

const MiB = 1024 * 1024;
const mib = (bytes: number | undefined): string =>
  bytes === undefined ? "-" : `${fmt(bytes / MiB, 1)} MiB`;

/** The bench entry (one run: the attack is not a rate; `runs` and `seconds` are ignored). */
export async function apiAttackBench(_runs: number, _seconds: number): Promise<void> {
  const r = await apiAttackRss();
  console.log(
    `\nAPI attack, one node in process, defaults (${r.idle} idle connections, then ${r.halfSent} each holding a half-sent 65,535-byte PUT)`,
  );
  console.log(
    `RSS before ${mib(r.rssBeforeBytes)}, during ${mib(r.rssDuringBytes)}, peak ${mib(r.rssPeakBytes)}, ` +
      `after the half-sent were closed ${mib(r.rssAfterBytes)}`,
  );
  console.log(
    `held during the attack: ${r.idleHeld} idle, ${r.halfSentHeld} half-sent; ` +
      `legitimate client ${r.legitServed ? "served" : "NOT served"} in ${fmt(r.legitMs, 1)} ms; ` +
      `half-sent all closed ${r.halfSentClosedAfterMs === undefined ? "-" : `${fmt(r.halfSentClosedAfterMs)} ms`} after sending`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await apiAttackRss(), null, 2));
}
