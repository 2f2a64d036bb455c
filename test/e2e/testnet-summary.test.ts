// `ringdht testnet` without a terminal: plain progress lines while the ring
// forms, then a summary line on stderr every --summary-every (nodes, records,
// ops/s) counting the API requests its nodes served, and a final summary on
// SIGINT with exit status 0. The node lines and the ring line stay on stdout.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { after, test } from "node:test";
import { ApiClient } from "../../src/client/api-client.js";
import { cleanupAll, onCleanup } from "../harness/cleanup.js";
import { CLI_PATH } from "../harness/process.js";

after(cleanupAll);

const SUMMARY = /^testnet: (\d+) nodes, (\d+) records, ([\d.]+) ops\/s \((\d+) ops in [\d.]+ s\)$/;

test("testnet: progress, a summary every second counting API requests, a final summary on SIGINT", {
  timeout: 60_000,
}, async () => {
  const proc = spawn(
    process.execPath,
    [CLI_PATH, "testnet", "-n", "4", "--p2p-port", "0", "--api-port", "0", "--summary-every", "1s"],
    { env: { ...process.env, RINGDHT_LOG_FORMAT: "json" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  onCleanup(() => {
    proc.kill("SIGKILL");
  });
  const exited = once(proc, "exit");
  const errLines: string[] = [];
  const waiters: { match: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  createInterface({ input: proc.stderr! }).on("line", (line) => {
    errLines.push(line);
    for (const w of [...waiters]) {
      const m = w.match.exec(line);
      if (m !== null) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  /** The next stderr line matching `match` (or an earlier one when `seen`), within 20 s. */
  const next = (match: RegExp, accept: (m: RegExpExecArray) => boolean = () => true) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${match} in stderr:\n${errLines.join("\n")}`)),
        20_000,
      );
      const waiter = {
        match,
        resolve: (m: RegExpExecArray) => {
          if (!accept(m)) {
            waiters.push(waiter);
            return;
          }
          clearTimeout(timer);
          resolve(m);
        },
      };
      waiters.push(waiter);
    });

  const apis: number[] = [];
  for await (const line of createInterface({ input: proc.stdout! })) {
    const m = /^node \d+: api [\d.]+:(\d+) /.exec(line);
    if (m !== null) apis.push(Number(m[1]));
    if (/nodes in one ring/.test(line)) break;
  }
  assert.equal(apis.length, 4);
  // stderr and stdout are separate pipes: the last progress line may arrive after the ring line.
  const allJoined = /^testnet: 4\/4 nodes joined after /;
  if (!errLines.some((l) => allJoined.test(l))) await next(allJoined);

  // 10 PUTs and 10 GETs through the first node: the summaries count them.
  const client = await ApiClient.connect("127.0.0.1", apis[0]!);
  for (let i = 0; i < 10; i++) {
    const key = Buffer.alloc(32, i + 1);
    client.put(key, Buffer.from(`v${i}`));
    assert.equal((await client.get(key))?.toString(), `v${i}`);
  }
  client.close();
  const summary = await next(SUMMARY, (m) => Number(m[4]) >= 20);
  assert.equal(Number(summary[1]), 4, "nodes");
  assert.ok(Number(summary[2]) >= 10, `records held: ${summary[0]}`);

  proc.kill("SIGINT");
  const final = await next(
    /^testnet stopped \(SIGINT\) after [\d.]+ s: (\d+) nodes, (\d+) records, (\d+) ops in total/,
  );
  assert.equal(Number(final[1]), 4);
  assert.equal(Number(final[3]), 20);
  const [code, signal] = await exited;
  assert.deepEqual({ code, signal }, { code: 0, signal: null });
  assert.ok(!errLines.some((l) => l.includes("\u001b[")), "no terminal escapes without a terminal");
});
