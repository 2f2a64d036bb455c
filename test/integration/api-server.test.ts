// The API server over real TCP in front of a DHT the test drives, so lookups
// can be slow on purpose: replies in any order, read-your-writes across a
// pending PUT, half-close with GETs in flight, the in-flight cap, DHT errors,
// and who may send DHT SHUTDOWN.

import assert from "node:assert/strict";
import { networkInterfaces } from "node:os";
import { after, afterEach, beforeEach, describe, test } from "node:test";
import { cleanupAll } from "../harness/cleanup.js";
import { type ServerUnderTest, startControlledServer } from "../harness/controlled-dht.js";
import { RawClient } from "../harness/raw-socket.js";
import {
  ApiTypes,
  byKey,
  getMsg,
  keyOf,
  putMsg,
  rawMessage,
  SHUTDOWN_MSG,
} from "../harness/wire.js";

/** Every test fails rather than hangs; teardown still runs (after hooks). */
const PER_TEST = { timeout: 20_000 };

const MAX_INFLIGHT = 8;
const PROBE_KEY = keyOf("probe");
const WARNING = "bad API input, closing connection";

after(cleanupAll);

describe("API server with a controlled DHT", () => {
  // Each test gets a server of its own (cheap), so one failure cannot shift
  // the DHT call indexes another test relies on.
  let sut: ServerUnderTest;
  let prober: RawClient;
  const open = (): Promise<RawClient> => RawClient.connect(sut.address.port);
  /**
   * One round trip on another connection. Bytes sent before it are on the
   * server's side of the loopback, so by its reply the server has read them.
   */
  const probe = async (): Promise<void> => {
    assert.deepEqual(await prober.get(PROBE_KEY), Buffer.from("probe"));
  };

  beforeEach(async () => {
    sut = await startControlledServer({ maxInflight: MAX_INFLIGHT });
    sut.dht.instant.set(PROBE_KEY.toString("latin1"), Buffer.from("probe"));
    prober = await RawClient.connect(sut.address.port);
  });
  afterEach(cleanupAll);

  test(
    "a reply leaves as soon as its lookup is done, before earlier slower ones",
    PER_TEST,
    async () => {
      const c = await open();
      const slow = keyOf("order-slow");
      const fast = keyOf("order-fast");
      const base = sut.dht.gets.length;
      await c.write(Buffer.concat([getMsg(slow), getMsg(fast)]));
      await sut.dht.waitForGets(base + 2);
      const [gSlow, gFast] = sut.dht.gets.slice(base);
      assert.ok(gSlow !== undefined && gFast !== undefined);
      assert.ok(gSlow.key.equals(slow) && gFast.key.equals(fast));
      gFast.resolve(Buffer.from("fast"));
      const [first] = await c.waitForReplies(1);
      assert.equal(first?.type, ApiTypes.Success);
      assert.ok(first.key.equals(fast));
      assert.deepEqual(first.value, Buffer.from("fast"));
      gSlow.resolve(undefined);
      const [, second] = await c.waitForReplies(2);
      assert.equal(second?.type, ApiTypes.Failure);
      assert.ok(second.key.equals(slow));
    },
  );

  test("PUT fields reach the DHT as sent; the reserved byte is ignored", PER_TEST, async () => {
    const c = await open();
    const key = keyOf("put-fields");
    const msg = putMsg(key, Buffer.from([1, 2, 3]), 12, 4);
    msg.writeUInt8(0xff, 7); // reserved: "ignored on receipt"
    const base = sut.dht.puts.length;
    await c.write(Buffer.concat([msg, getMsg(key)]));
    await probe();
    assert.equal(sut.dht.puts.length, base + 1);
    const put = sut.dht.puts[base]!;
    assert.ok(put.req.key.equals(key));
    assert.deepEqual(put.req.value, Buffer.from([1, 2, 3]));
    assert.equal(put.req.ttl, 12);
    assert.equal(put.req.replication, 4);
    put.resolve();
    const gets = sut.dht.gets.length;
    await sut.dht.waitForGets(gets + 1);
    sut.dht.gets[gets]!.resolve(Buffer.from([1, 2, 3]));
    const [reply] = await c.waitForReplies(1);
    assert.deepEqual(reply?.value, Buffer.from([1, 2, 3]));
    assert.equal(c.isClosed, false);
  });

  test(
    "read-your-writes: a GET waits for the connection's pending PUT of that key",
    PER_TEST,
    async () => {
      const c = await open();
      const key = keyOf("ryw-pending");
      const other = keyOf("ryw-other");
      const puts = sut.dht.puts.length;
      const gets = sut.dht.gets.length;
      await c.write(Buffer.concat([putMsg(key, Buffer.from("v")), getMsg(key), getMsg(other)]));
      await sut.dht.waitForGets(gets + 1);
      await probe();
      // Only the GET of the other key went ahead; the PUT is still pending.
      assert.equal(sut.dht.gets.length, gets + 1);
      assert.ok(sut.dht.gets[gets]!.key.equals(other));
      assert.equal(sut.dht.puts.length, puts + 1);
      sut.dht.puts[puts]!.resolve();
      await sut.dht.waitForGets(gets + 2);
      assert.ok(sut.dht.gets[gets + 1]!.key.equals(key), "the GET ran once its PUT was done");
      sut.dht.gets[gets + 1]!.resolve(Buffer.from("v"));
      sut.dht.gets[gets]!.resolve(undefined);
      const replies = byKey(await c.waitForReplies(2));
      assert.deepEqual(replies.get(key.toString("latin1"))?.[0]?.value, Buffer.from("v"));
      assert.equal(replies.get(other.toString("latin1"))?.[0]?.type, ApiTypes.Failure);
    },
  );

  test(
    "a GET the DHT fails gets FAILURE; a PUT the DHT fails costs nothing",
    PER_TEST,
    async () => {
      const c = await open();
      const key = keyOf("dht-errors");
      const puts = sut.dht.puts.length;
      const gets = sut.dht.gets.length;
      await c.write(putMsg(key, Buffer.from("x")));
      await probe();
      sut.dht.puts[puts]!.reject(new Error("no responsible node reachable"));
      await c.write(getMsg(key));
      await sut.dht.waitForGets(gets + 1);
      sut.dht.gets[gets]!.reject(new Error("lookup timed out"));
      const [reply] = await c.waitForReplies(1);
      assert.equal(reply?.type, ApiTypes.Failure);
      assert.ok(reply.key.equals(key));
      assert.equal(c.replies.length, 1);
      assert.equal(c.isClosed, false);
    },
  );

  test(
    "half-close with a GET in flight: its reply comes after the FIN, then the server closes",
    PER_TEST,
    async () => {
      const c = await open();
      const key = keyOf("half-close-in-flight");
      const gets = sut.dht.gets.length;
      await c.write(getMsg(key));
      await sut.dht.waitForGets(gets + 1);
      await new Promise<void>((resolve) => c.socket.end(() => resolve()));
      await probe(); // the server has seen the FIN by now
      assert.equal(c.bytesReceived, 0);
      sut.dht.gets[gets]!.resolve(Buffer.from("late but delivered"));
      await c.closed;
      assert.equal(c.replies.length, 1);
      assert.deepEqual(c.replies[0]?.value, Buffer.from("late but delivered"));
      assert.equal(c.endedByPeer, true);
    },
  );

  test(
    `api_max_inflight = ${MAX_INFLIGHT}: reading pauses at the cap and resumes; all GETs answered`,
    PER_TEST,
    async () => {
      const c = await open();
      const n = 100;
      const keys = Array.from({ length: n }, (_, i) => keyOf(`cap-${i}`));
      const base = sut.dht.gets.length;
      await c.write(Buffer.concat(keys.map((k) => getMsg(k))));
      await sut.dht.waitForGets(base + 1);
      for (let i = 0; i < 3; i++) await probe(); // every chance to read further
      const inFlightAtOnce = sut.dht.gets.length - base;
      // Answer them in arrival order as they reach the DHT: all must be answered.
      for (let answered = 0; answered < n; answered++) {
        await sut.dht.waitForGets(base + answered + 1);
        sut.dht.gets[base + answered]!.resolve(undefined);
      }
      const replies = byKey(await c.waitForReplies(n));
      for (const k of keys) assert.equal(replies.get(k.toString("latin1"))?.length, 1);
      assert.ok(
        inFlightAtOnce <= MAX_INFLIGHT,
        `${inFlightAtOnce} GETs of one connection were in flight at once; the cap is ${MAX_INFLIGHT}`,
      );
    },
  );

  test(
    "malformed input: one warning naming the client and a reason; only that connection closes",
    PER_TEST,
    async () => {
      const keeper = await open();
      const c = await open();
      await c.write(rawMessage(36, 700, 32)).catch(() => {});
      await c.closed;
      assert.equal(c.bytesReceived, 0);
      const mine = sut.lines.filter(
        (l) => l.msg === WARNING && l.client === `127.0.0.1:${c.localPort}`,
      );
      assert.equal(mine.length, 1);
      assert.equal(mine[0]?.level, 40);
      assert.match(String(mine[0]?.reason), /700/);
      await probe();
      assert.equal(keeper.isClosed, false);
    },
  );

  test("DHT SHUTDOWN from loopback reaches the DHT, naming the client", PER_TEST, async () => {
    const c = await open();
    await c.write(SHUTDOWN_MSG);
    await probe();
    assert.equal(sut.dht.shutdowns.length, 1);
    assert.match(sut.dht.shutdowns[0]!, new RegExp(`127\\.0\\.0\\.1:${c.localPort}`));
  });
});

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalIPv4(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return undefined;
}

describe("DHT SHUTDOWN from a non-loopback client", () => {
  const host = externalIPv4();

  test("is refused with a warning and a close, unless allow_remote_shutdown", {
    ...PER_TEST,
    skip: host === undefined ? "no non-loopback IPv4 address" : false,
  }, async () => {
    for (const allow of [false, true]) {
      const sut = await startControlledServer({ host, allowRemoteShutdown: allow });
      try {
        const c = await RawClient.connect(sut.address.port, host);
        await c.write(SHUTDOWN_MSG).catch(() => {});
        if (allow) {
          // Accepted: the DHT is told; the connection stays until the node leaves.
          const p = await RawClient.connect(sut.address.port, host);
          sut.dht.instant.set(PROBE_KEY.toString("latin1"), Buffer.from("probe"));
          await p.get(PROBE_KEY);
          assert.equal(sut.dht.shutdowns.length, 1);
          assert.equal(c.isClosed, false);
          p.destroy();
          c.destroy();
        } else {
          await c.closed;
          assert.equal(c.bytesReceived, 0);
          assert.equal(sut.dht.shutdowns.length, 0);
          const warning = sut.lines.find((l) => l.msg === WARNING);
          assert.equal(warning?.client, `${host}:${c.localPort}`);
          assert.match(String(warning?.reason), /loopback/);
        }
      } finally {
        await sut.server.close();
      }
    }
  });
});
