// Persistence with real processes: nodes with data_dir are SIGKILLed right
// after their writes were acknowledged and restarted at the same ports with
// the same folder; every value is back, and a record whose TTL ran out while
// the node was down is gone. A data_dir that cannot be used is one clear error
// and exit status 2, before any port is bound.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { ApiClient } from "../../src/client/api-client.js";
import { RECORDS_FILE } from "../../src/persist/lmdb-records.js";
import { cleanupAll } from "../harness/cleanup.js";
import { quietPort } from "../harness/ports.js";
import {
  type NodeProcess,
  spawnNodeProcess,
  startNodeProcess,
  tempDir,
  tempFile,
} from "../harness/process.js";

after(cleanupAll);

interface Member {
  api: number;
  p2p: number;
  dataDir: string;
  node?: NodeProcess;
}

async function member(): Promise<Member> {
  return { api: await quietPort(), p2p: await quietPort(), dataDir: join(tempDir(), "data") };
}

function configOf(m: Member, bootstrap?: Member): string {
  return [
    "[dht]",
    `api_address = 127.0.0.1:${m.api}`,
    `p2p_address = 127.0.0.1:${m.p2p}`,
    `data_dir = ${m.dataDir}`,
    "pow_difficulty = 8",
    "stabilize_interval_ms = 250",
    ...(bootstrap === undefined ? [] : [`bootstrapper = 127.0.0.1:${bootstrap.p2p}`]),
    "",
  ].join("\n");
}

async function start(m: Member, bootstrap?: Member): Promise<NodeProcess> {
  m.node = (await startNodeProcess(configOf(m, bootstrap), 20_000)).node;
  return m.node;
}

/** PUT then GET on one connection: the GET answers once the PUT was acknowledged. */
async function putAcked(m: Member, key: Buffer, value: string, ttl = 0): Promise<void> {
  const c = await ApiClient.connect("127.0.0.1", m.api);
  try {
    c.put(key, Buffer.from(value), ttl);
    assert.equal((await c.get(key))?.toString(), value, "acknowledged");
  } finally {
    c.close();
  }
}

async function getVia(m: Member, key: Buffer): Promise<string | undefined> {
  const c = await ApiClient.connect("127.0.0.1", m.api);
  try {
    return (await c.get(key))?.toString();
  } finally {
    c.close();
  }
}

/** Waits, on the clock, until `at` (ms since the epoch) has passed. */
async function until(at: number): Promise<void> {
  while (Date.now() <= at)
    await new Promise((r) => setTimeout(r, Math.max(at - Date.now() + 1, 1)));
}

const loadedLine = (n: NodeProcess) => n.waitForLine((l) => l.msg === "records loaded");

test("one node: values survive kill -9 and a restart with the same data_dir", {
  timeout: 60_000,
}, async () => {
  const m = await member();
  await start(m);
  const keys = Array.from({ length: 20 }, () => randomBytes(32));
  for (const [i, k] of keys.entries()) await putAcked(m, k, `value ${i}`);
  const short = randomBytes(32);
  await putAcked(m, short, "short-lived", 1);
  const shortDeadline = Date.now() + 1000;
  // The acknowledgement came first: kill at once, no time to flush anything later.
  await m.node!.kill("SIGKILL");

  await until(shortDeadline + 100);
  const again = await start(m);
  const loaded = await loadedLine(again);
  assert.equal(loaded.records, 20, "every live record read back");
  assert.equal(loaded.expired, 1, "the record whose TTL ran out is dropped on load");
  for (const [i, k] of keys.entries()) assert.equal(await getVia(m, k), `value ${i}`);
  assert.equal(await getVia(m, short), undefined, "expired while the node was down");
  await again.kill("SIGTERM");
});

test("three nodes: every value survives all three killed and restarted", {
  timeout: 90_000,
}, async () => {
  const ring = [await member(), await member(), await member()];
  const [a, b, c] = ring as [Member, Member, Member];
  await start(a);
  await start(b, a);
  await start(c, a);
  const keys = Array.from({ length: 30 }, () => randomBytes(32));
  for (const [i, k] of keys.entries()) await putAcked(ring[i % 3]!, k, `ring value ${i}`);
  await Promise.all(ring.map((m) => m.node!.kill("SIGKILL")));

  const restarted = [await start(a), await start(b, a), await start(c, a)];
  for (const n of restarted) assert.ok(Number((await loadedLine(n)).records) > 0);
  for (const [i, k] of keys.entries())
    for (const m of ring)
      assert.equal(await getVia(m, k), `ring value ${i}`, `key ${i} via ${m.api}`);
  await Promise.all(ring.map((m) => m.node!.kill("SIGTERM")));
});

async function refused(dataDir: string, wrap: readonly string[] = []): Promise<string> {
  const api = await quietPort();
  const p2p = await quietPort();
  const config = tempFile(
    "node.ini",
    `[dht]\napi_address = 127.0.0.1:${api}\np2p_address = 127.0.0.1:${p2p}\ndata_dir = ${dataDir}\n`,
  );
  chmodSync(dirname(config), 0o755); // readable by an unprivileged user too
  const node = spawnNodeProcess(config, wrap);
  const status = await node.finished();
  assert.deepEqual(status, { code: 2, signal: null }, node.stderrTail());
  const plain = node.stderrLines.filter((l) => !l.startsWith("{"));
  assert.equal(plain.length, 1, `one error line:\n${node.stderrTail()}`);
  assert.match(plain[0]!, /^ringdht: data_dir /);
  return plain[0]!;
}

test("a data_dir that is a file, or holds a corrupt database, is one error and exit 2", {
  timeout: 30_000,
}, async () => {
  const file = tempFile("not-a-folder", "plain text");
  assert.match(await refused(file), /not-a-folder/);
  const corrupt = join(tempDir(), "corrupt");
  mkdirSync(corrupt);
  writeFileSync(join(corrupt, RECORDS_FILE), randomBytes(32_768));
  assert.match(await refused(corrupt), /not a ringdht database/);
});

test("a data_dir the node may not write to is one error and exit 2", {
  timeout: 30_000,
}, async () => {
  const parent = tempDir();
  chmodSync(parent, 0o755);
  const dir = join(parent, "read-only");
  mkdirSync(dir, { mode: 0o555 });
  // Root writes anywhere: as root, run the node as nobody (setpriv, util-linux).
  const root = process.getuid?.() === 0;
  const setpriv = spawnSync("sh", ["-c", "command -v setpriv"], { encoding: "utf8" });
  assert.ok(!root || setpriv.status === 0, "running as root needs setpriv to drop privileges");
  const wrap = root
    ? [setpriv.stdout.trim(), "--reuid=65534", "--regid=65534", "--clear-groups"]
    : [];
  assert.match(await refused(dir, wrap), /not a writable folder/);
  assert.match(await refused(join(dir, "below"), wrap), /cannot create the folder/);
});
