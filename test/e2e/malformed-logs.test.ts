// Malformed API input against a spawned node: each bad connection is closed
// without a reply and logged exactly once, naming the client and the reason.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MALFORMED_CASES } from "../harness/api-suite.js";
import { cleanupAll } from "../harness/cleanup.js";
import { type NodeProcess, startNodeProcess } from "../harness/process.js";
import { RawClient } from "../harness/raw-socket.js";
import { keyOf, putMsg } from "../harness/wire.js";

/** Every test fails rather than hangs; teardown still runs (after hooks). */
const PER_TEST = { timeout: 20_000 };

const CONFIG = "[dht]\napi_address = 127.0.0.1:0\np2p_address = 127.0.0.1:0\n";
const WARNING = "bad API input, closing connection";

after(cleanupAll);

describe("malformed input, spawned node", () => {
  let node: NodeProcess;
  let port: number;
  before(async () => {
    ({ node, apiPort: port } = await startNodeProcess(CONFIG));
  });

  test(
    "each bad connection: closed, no reply, one warning naming its client and a reason",
    PER_TEST,
    async () => {
      const keeper = await RawClient.connect(port);
      const key = keyOf("e2e-malformed-kept");
      await keeper.write(putMsg(key, Buffer.from("kept")));
      assert.deepEqual(await keeper.get(key), Buffer.from("kept"));

      const probe = keyOf("e2e-malformed-probe");
      const badPorts: number[] = [];
      for (const bad of MALFORMED_CASES) {
        const c = await RawClient.connect(port);
        badPorts.push(c.localPort);
        if (bad.bytewise) {
          await c.writeBytewise(bad.bytes, async () => {
            assert.equal(await keeper.get(probe), undefined);
          });
        } else await c.write(bad.bytes).catch(() => {});
        await c.closed;
        assert.equal(c.bytesReceived, 0, `${bad.name}: no reply bytes`);
        // The warning comes before the close, on the node's one stderr stream.
        const warning = await node.waitForLine(
          (l) => l.msg === WARNING && String(l.client).endsWith(`:${c.localPort}`),
        );
        assert.equal(warning.level, 40, `${bad.name}: a warning`);
        assert.match(String(warning.client), /^(::ffff:)?127\.0\.0\.1:\d+$/);
        assert.equal(typeof warning.reason, "string");
        assert.ok(String(warning.reason).length > 0, `${bad.name}: a reason`);
        assert.deepEqual(await keeper.get(key), Buffer.from("kept"), `${bad.name}: keeper served`);
      }
      assert.equal(keeper.isClosed, false);

      // Stop the node and read its whole log: exactly one warning per bad client.
      keeper.destroy();
      assert.deepEqual(await node.kill("SIGTERM"), { code: 0, signal: null });
      await node.stderrDone;
      const warnings = node.lines.filter((l) => l.msg === WARNING);
      assert.equal(warnings.length, MALFORMED_CASES.length, node.stderrTail(40));
      MALFORMED_CASES.forEach((bad, i) => {
        const mine = warnings.filter((l) => String(l.client).endsWith(`:${badPorts[i]}`));
        assert.equal(mine.length, 1, `${bad.name}: exactly one warning`);
      });
      assert.equal(
        node.lines.filter((l) => (l.level ?? 0) >= 50).length,
        0,
        "no error or fatal lines",
      );
    },
  );
});
