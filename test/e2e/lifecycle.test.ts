// A spawned node's life: how it ends (DHT SHUTDOWN, SIGTERM, SIGINT) and how it
// refuses to start on a bad configuration file.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { cleanupAll } from "../harness/cleanup.js";
import { runCli, startNodeProcess, tempDir, tempFile } from "../harness/process.js";
import { RawClient } from "../harness/raw-socket.js";
import { keyOf, putMsg, SHUTDOWN_MSG } from "../harness/wire.js";

/** Every test fails rather than hangs; teardown still runs (after hooks). */
const PER_TEST = { timeout: 20_000 };

const CONFIG = "[dht]\napi_address = 127.0.0.1:0\np2p_address = 127.0.0.1:0\n";

after(cleanupAll);

describe("ending a spawned node", () => {
  test("DHT SHUTDOWN from a loopback client is accepted: exit status 0", PER_TEST, async () => {
    const { node, apiPort } = await startNodeProcess(CONFIG);
    const c = await RawClient.connect(apiPort);
    await c.write(putMsg(keyOf("before-shutdown"), Buffer.from("x")));
    await c.write(SHUTDOWN_MSG);
    await c.closed;
    assert.deepEqual(await node.finished(), { code: 0, signal: null });
    assert.equal(c.bytesReceived, 0);
    const accepted = node.lines.filter((l) => l.msg === "DHT SHUTDOWN received");
    assert.equal(accepted.length, 1, node.stderrTail());
    assert.equal(accepted[0]?.client, `127.0.0.1:${c.localPort}`);
    assert.equal(node.lines.filter((l) => (l.level ?? 0) >= 40).length, 0, node.stderrTail());
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`${signal} ends it with exit status 0, closing its clients`, PER_TEST, async () => {
      const { node, apiPort } = await startNodeProcess(CONFIG);
      const c = await RawClient.connect(apiPort);
      assert.equal(await c.get(keyOf("before-signal")), undefined);
      assert.deepEqual(await node.kill(signal), { code: 0, signal: null });
      await c.closed;
      await node.stderrDone;
      assert.ok(
        node.lines.some((l) => l.msg === "leaving" && l.reason === signal),
        node.stderrTail(),
      );
    });
  }
});

describe("configuration errors stop the node at start", () => {
  /** Exactly one non-empty stderr line, no stack trace. */
  function oneLine(stderr: string): string {
    const lines = stderr.split("\n").filter((l) => l.trim() !== "");
    assert.equal(lines.length, 1, `expected one stderr line, got:\n${stderr}`);
    assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
    return lines[0]!;
  }

  test(
    "a bad value (replication = lots): status 2, one line naming the file and the key",
    PER_TEST,
    async () => {
      const file = tempFile("bad-value.ini", `${CONFIG}replication = lots\n`);
      const r = await runCli(["node", "-c", file]);
      assert.equal(r.status, 2, r.stderr);
      const line = oneLine(r.stderr);
      assert.ok(line.includes(file), line);
      assert.match(line, /\breplication\b/);
      assert.match(line, /lots/);
      assert.equal(r.stdout.length, 0);
    },
  );

  test(
    "a bad address (api_address = nowhere): status 2, naming the file and the key",
    PER_TEST,
    async () => {
      const file = tempFile("bad-address.ini", "[dht]\napi_address = nowhere\n");
      const r = await runCli(["node", "-c", file]);
      assert.equal(r.status, 2, r.stderr);
      const line = oneLine(r.stderr);
      assert.ok(line.includes(file), line);
      assert.match(line, /\bapi_address\b/);
    },
  );

  test("a malformed line: status 2, naming the file", PER_TEST, async () => {
    const file = tempFile("malformed.ini", `${CONFIG}this line has no equals sign\n`);
    const r = await runCli(["node", "-c", file]);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(oneLine(r.stderr).includes(file));
  });

  test("a missing file: status 2, one line naming the file", PER_TEST, async () => {
    const file = join(tempDir(), "does-not-exist.ini");
    const r = await runCli(["node", "-c", file]);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(oneLine(r.stderr).includes(file));
  });

  test("an unknown key only gets a warning: the node starts", PER_TEST, async () => {
    const { node, apiPort } = await startNodeProcess(`${CONFIG}replicaton = 3\n`);
    const warning = node.lines.find((l) => l.level === 40 && /replicaton/.test(String(l.msg)));
    assert.ok(warning !== undefined, node.stderrTail());
    const c = await RawClient.connect(apiPort);
    await c.write(putMsg(keyOf("typo-node"), Buffer.from("works")));
    assert.deepEqual(await c.get(keyOf("typo-node")), Buffer.from("works"));
    c.destroy();
    assert.deepEqual(await node.kill("SIGTERM"), { code: 0, signal: null });
  });
});
