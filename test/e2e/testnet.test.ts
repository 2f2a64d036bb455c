// `ringdht testnet -n N`: N nodes in one process, one ring, each API address
// printed; a key stored through one node is read through every other; Ctrl-C
// (SIGINT) ends it with status 0.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { after, test } from "node:test";
import { ApiClient } from "../../src/client/api-client.js";
import { cleanupAll, onCleanup } from "../harness/cleanup.js";
import { CLI_PATH } from "../harness/process.js";

after(cleanupAll);

test("testnet -n 6 prints six API addresses of one ring and stops on SIGINT", {
  timeout: 60_000,
}, async () => {
  const proc = spawn(
    process.execPath,
    [CLI_PATH, "testnet", "-n", "6", "--p2p-port", "0", "--api-port", "0"],
    {
      env: { ...process.env, RINGDHT_LOG_FORMAT: "json" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  onCleanup(() => {
    proc.kill("SIGKILL");
  });
  const exited = once(proc, "exit");
  const apis: { host: string; port: number }[] = [];
  const lines = createInterface({ input: proc.stdout! });
  for await (const line of lines) {
    const m = /^node \d+: api ([\d.]+):(\d+) /.exec(line);
    if (m !== null) apis.push({ host: m[1]!, port: Number(m[2]) });
    if (/nodes in one ring/.test(line)) {
      // The line's form: both times. That it waits for every successor and predecessor
      // is checked in-process by testnet-settle.test.ts.
      assert.match(
        line,
        /^6 nodes in one ring after \d+ ms \(all joined after \d+ ms, every successor and predecessor right\)/,
      );
      break;
    }
  }
  assert.equal(apis.length, 6);
  assert.equal(new Set(apis.map((a) => a.port)).size, 6);

  const key = Buffer.alloc(32, 0x42);
  const writer = await ApiClient.connect(apis[0]!.host, apis[0]!.port);
  writer.put(key, Buffer.from("through the testnet"));
  assert.equal((await writer.get(key))?.toString(), "through the testnet");
  writer.close();
  for (const api of apis.slice(1)) {
    const reader = await ApiClient.connect(api.host, api.port);
    assert.equal(
      (await reader.get(key))?.toString(),
      "through the testnet",
      `node at port ${api.port}`,
    );
    reader.close();
  }

  proc.kill("SIGINT");
  const [code, signal] = await exited;
  assert.deepEqual({ code, signal }, { code: 0, signal: null });
});
