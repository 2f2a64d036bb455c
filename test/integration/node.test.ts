// In-process node behaviour beyond single requests: DHT SHUTDOWN, TTL policy
// from the configuration, and backpressure against a client that never reads.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import type { RingDhtNode } from "../../src/node.js";
import { cleanupAll } from "../harness/cleanup.js";
import { floodGetsWithoutReading } from "../harness/flood.js";
import { loopbackConfig, startInProcessNode } from "../harness/in-process.js";
import { RawClient } from "../harness/raw-socket.js";
import { keyOf, MAX_VALUE_BYTES, putMsg, SHUTDOWN_MSG } from "../harness/wire.js";

/** Every test fails rather than hangs; teardown still runs (after hooks). */
const PER_TEST = { timeout: 20_000 };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the error code of a connection attempt that fails, or "connected". */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve("connected");
    });
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

after(cleanupAll);

describe("DHT SHUTDOWN from a loopback client", () => {
  test("stops the node: every connection closes, the API port refuses", PER_TEST, async () => {
    const node = await startInProcessNode();
    const port = node.apiAddress.port;
    const bystander = await RawClient.connect(port);
    const c = await RawClient.connect(port);
    await c.write(SHUTDOWN_MSG);
    const reason = await node.closed;
    assert.match(reason, new RegExp(`DHT SHUTDOWN from 127\\.0\\.0\\.1:${c.localPort}`));
    await c.closed;
    await bystander.closed;
    assert.equal(c.bytesReceived, 0);
    assert.equal(await tryConnect(port), "ECONNREFUSED");
  });
});

describe("TTL policy from the configuration", () => {
  let node: RingDhtNode;
  before(async () => {
    node = await startInProcessNode(
      loopbackConfig("default_store_duration = 1", "max_store_duration = 1"),
    );
  });

  test(
    "ttl above max_store_duration and ttl=0 (default) both expire after 1 s",
    PER_TEST,
    async () => {
      const c = await RawClient.connect(node.apiAddress.port);
      const clamped = keyOf("ttl-clamped");
      const defaulted = keyOf("ttl-default");
      const sentAt = Date.now();
      await c.write(
        Buffer.concat([
          putMsg(clamped, Buffer.from("a"), 3600),
          putMsg(defaulted, Buffer.from("b")),
        ]),
      );
      await sleep(500 - (Date.now() - sentAt));
      assert.deepEqual(await c.get(clamped), Buffer.from("a"));
      assert.deepEqual(await c.get(defaulted), Buffer.from("b"));
      for (;;) {
        const [a, b] = [await c.get(clamped), await c.get(defaulted)];
        const elapsed = Date.now() - sentAt;
        if (a === undefined && b === undefined) {
          assert.ok(elapsed >= 1000, `expired early, after ${elapsed} ms`);
          break;
        }
        assert.ok(elapsed < 3000, `still readable after ${elapsed} ms`);
        await sleep(100);
      }
      c.destroy();
    },
  );
});

describe("backpressure: a client that floods GETs and never reads", () => {
  let node: RingDhtNode;
  before(async () => {
    node = await startInProcessNode();
  });

  test("the node stops reading it while other clients keep getting answers", {
    timeout: 30_000,
  }, async () => {
    const port = node.apiAddress.port;
    const big = randomBytes(MAX_VALUE_BYTES);
    const bigKey = keyOf("flood-big");
    const probeKey = keyOf("flood-probe");
    const probeValue = Buffer.from("probe value");
    const probeClient = await RawClient.connect(port);
    await probeClient.write(Buffer.concat([putMsg(bigKey, big), putMsg(probeKey, probeValue)]));
    assert.deepEqual(await probeClient.get(probeKey), probeValue);

    const flood = await floodGetsWithoutReading({
      host: "127.0.0.1",
      port,
      key: bigKey,
      maxRequestBytes: 20e6,
      probe: async () => assert.deepEqual(await probeClient.get(probeKey), probeValue),
    });
    try {
      assert.equal(flood.stalled, true, `the node read all ${flood.requestBytes} request bytes`);
      assert.ok(flood.probes >= 30, `only ${flood.probes} probes answered`);
      // A client that connects during the flood is served too.
      const late = await RawClient.connect(port);
      assert.deepEqual(await late.get(bigKey), big);
      late.destroy();
    } finally {
      flood.socket.destroy();
    }
    if (!flood.socket.closed) {
      await new Promise<void>((resolve) => flood.socket.once("close", () => resolve()));
    }
    assert.deepEqual(await probeClient.get(bigKey), big);
    probeClient.destroy();
  });
});
