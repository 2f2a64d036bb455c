// The DHT API contract (docs/api.md) as one suite of tests over real
// TCP, run against an in-process node (test/integration) and a spawned
// `ringdht node` process (test/e2e). Each test uses keys of its own, so the
// tests share one node.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { RawClient } from "./raw-socket.js";
import type { ApiTarget } from "./target.js";
import {
  ApiTypes,
  byKey,
  getMsg,
  keyOf,
  MAX_VALUE_BYTES,
  putMsg,
  type Reply,
  rawMessage,
} from "./wire.js";

/** Every test fails rather than hangs; teardown still runs (after hooks). */
const PER_TEST = { timeout: 20_000 };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A malformed message and why it is malformed. */
export interface MalformedCase {
  name: string;
  bytes: Buffer;
  /** Send the bytes one per write instead of in one write. */
  bytewise?: boolean;
}

export const MALFORMED_CASES: readonly MalformedCase[] = [
  { name: "size 3, below the 4-byte header", bytes: rawMessage(3, ApiTypes.Get, 0) },
  { name: "size 0", bytes: rawMessage(0, ApiTypes.Put, 0) },
  { name: "GET with size 37", bytes: rawMessage(37, ApiTypes.Get, 33, 0x11) },
  { name: "GET with size 35", bytes: rawMessage(35, ApiTypes.Get, 31, 0x11) },
  {
    name: "GET with size 37, its header split over single-byte writes",
    bytes: rawMessage(37, ApiTypes.Get, 0),
    bytewise: true,
  },
  { name: "PUT with size 40 (no value)", bytes: rawMessage(40, ApiTypes.Put, 36, 0x22) },
  { name: "SHUTDOWN with size 5", bytes: rawMessage(5, ApiTypes.Shutdown, 1) },
  { name: "unknown type 700", bytes: rawMessage(36, 700, 32, 0x33) },
  { name: "type 652 (DHT SUCCESS) sent by a client", bytes: rawMessage(39, ApiTypes.Success, 35) },
  { name: "type 653 (DHT FAILURE) sent by a client", bytes: rawMessage(36, ApiTypes.Failure, 32) },
];

function assertSuccess(reply: Reply | undefined, key: Buffer, value: Buffer): void {
  assert.ok(reply !== undefined, "missing reply");
  assert.equal(reply.type, ApiTypes.Success, `expected SUCCESS for ${key.toString("hex")}`);
  assert.equal(reply.size, 36 + value.length);
  assert.ok(reply.key.equals(key), "reply key differs");
  assert.ok(reply.value.equals(value), "reply value differs");
}

/** Defines the contract tests in the current describe block. */
export function defineApiContractTests(start: () => Promise<ApiTarget>): void {
  let target: ApiTarget | undefined;
  const clients: RawClient[] = [];

  const open = async (): Promise<RawClient> => {
    assert.ok(target !== undefined, "node not started");
    const client = await RawClient.connect(target.port, target.host);
    clients.push(client);
    return client;
  };

  /**
   * A round trip on a connection of its own. Bytes another connection wrote
   * before it are on the node's side of the loopback, so by its reply the
   * node has read them: single-byte writes arrive as single-byte reads.
   */
  let prober: RawClient | undefined;
  const probeKey = keyOf("suite-probe");
  const probe = async (): Promise<void> => {
    prober ??= await open();
    assert.equal(await prober.get(probeKey), undefined);
  };

  before(async () => {
    target = await start();
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await target?.stop();
  });

  test(
    "the spec's worked examples give byte-exact SUCCESS and FAILURE replies",
    PER_TEST,
    async () => {
      const c = await open();
      const put = Buffer.from(`002d028a000c0400${"03".repeat(32)}0102030405`, "hex");
      await c.write(Buffer.concat([put, Buffer.from(`0024028b${"03".repeat(32)}`, "hex")]));
      await c.waitForReplies(1);
      await c.write(Buffer.from(`0024028b${"04".repeat(32)}`, "hex"));
      await c.waitForReplies(2);
      assert.equal(
        c.received.toString("hex"),
        `0029028c${"03".repeat(32)}0102030405` + `0024028d${"04".repeat(32)}`,
      );
    },
  );

  test(
    "1,000 pipelined requests in one write: 500 PUTs then 500 GETs -> 500 SUCCESS",
    PER_TEST,
    async () => {
      const c = await open();
      const n = 500;
      const keys = Array.from({ length: n }, (_, i) => keyOf(`pipelined-${i}`));
      const values = keys.map((_, i) => Buffer.from(`value ${i};`.repeat(1 + (i % 13))));
      const batch = Buffer.concat([
        ...keys.map((k, i) => putMsg(k, values[i]!)),
        ...keys.map((k) => getMsg(k)),
      ]);
      await c.write(batch);
      const replies = await c.waitForReplies(n);
      const grouped = byKey(replies);
      assert.equal(grouped.size, n, "one reply per key");
      keys.forEach((k, i) => {
        const list = grouped.get(k.toString("latin1"));
        assert.equal(list?.length, 1, `key ${i}: exactly one reply`);
        assertSuccess(list[0], k, values[i]!);
      });
      // A sentinel GET: nothing else was sent before its reply.
      const sentinel = keyOf("pipelined-sentinel");
      await c.write(getMsg(sentinel));
      const all = await c.waitForReplies(n + 1);
      assert.equal(all[n]?.type, ApiTypes.Failure);
      assert.ok(all[n]?.key.equals(sentinel));
      assert.equal(c.replies.length, n + 1);
    },
  );

  test(
    "a PUT sent one byte per write is stored; a GET sent the same way sees it",
    PER_TEST,
    async () => {
      const c = await open();
      const key = keyOf("bytewise");
      const value = Buffer.from("one byte at a time");
      await c.writeBytewise(putMsg(key, value, 0, 0), probe);
      await c.writeBytewise(getMsg(key), probe);
      const [reply] = await c.waitForReplies(1);
      assertSuccess(reply, key, value);
      const other = await open();
      assert.deepEqual(await other.get(key), value);
    },
  );

  describe("malformed input closes only its own connection, without a reply", () => {
    const keptKey = keyOf("malformed-kept");
    const keptValue = Buffer.from("stored before the bad input");
    let keeper: RawClient;

    before(async () => {
      keeper = await open();
      await keeper.write(putMsg(keptKey, keptValue));
      assert.deepEqual(await keeper.get(keptKey), keptValue);
    });

    for (const bad of MALFORMED_CASES) {
      test(bad.name, PER_TEST, async () => {
        const c = await open();
        if (bad.bytewise) await c.writeBytewise(bad.bytes, probe);
        else await c.write(bad.bytes).catch(() => {});
        await c.closed;
        assert.equal(c.bytesReceived, 0, "no reply bytes");
        // The connection opened before still works, and the data is still there.
        assert.equal(keeper.isClosed, false);
        assert.deepEqual(await keeper.get(keptKey), keptValue);
        // So does a new one.
        const fresh = await open();
        assert.deepEqual(await fresh.get(keptKey), keptValue);
        fresh.destroy();
      });
    }
  });

  test("200 concurrent clients each PUT and GET their own key", PER_TEST, async () => {
    const n = 200;
    const conns = await Promise.all(Array.from({ length: n }, () => open()));
    const results = await Promise.all(
      conns.map(async (c, i) => {
        const key = keyOf(`concurrent-${i}`);
        await c.write(putMsg(key, Buffer.from(`client ${i}`)));
        return c.get(key);
      }),
    );
    results.forEach((value, i) => {
      assert.deepEqual(value, Buffer.from(`client ${i}`), `client ${i}`);
    });
    for (const c of conns) c.destroy();
  });

  test("ttl=1: readable at 0.5 s, gone within 3 s, never before 1 s", PER_TEST, async () => {
    const c = await open();
    const key = keyOf("ttl-one-second");
    const value = Buffer.from("short-lived");
    const sentAt = Date.now();
    await c.write(putMsg(key, value, 1, 0));
    await sleep(500 - (Date.now() - sentAt));
    assert.deepEqual(await c.get(key), value, "still there at 0.5 s");
    for (;;) {
      const got = await c.get(key);
      const elapsed = Date.now() - sentAt;
      if (got === undefined) {
        assert.ok(elapsed >= 1000, `expired early, after ${elapsed} ms`);
        break;
      }
      assert.deepEqual(got, value);
      assert.ok(elapsed < 3000, `still readable after ${elapsed} ms`);
      await sleep(100);
    }
  });

  test("a later PUT replaces the value, on this connection and on others", PER_TEST, async () => {
    const c = await open();
    const key = keyOf("overwrite");
    const v1 = Buffer.from("the first, longer value");
    const v2 = Buffer.from("v2");
    await c.write(putMsg(key, v1));
    await c.write(putMsg(key, v2));
    assert.deepEqual(await c.get(key), v2);
    const other = await open();
    assert.deepEqual(await other.get(key), v2);
  });

  test("the largest value (65,495 bytes) is stored and read back exactly", PER_TEST, async () => {
    const c = await open();
    const key = keyOf("largest");
    const value = randomBytes(MAX_VALUE_BYTES);
    const put = putMsg(key, value);
    assert.equal(put.readUInt16BE(0), 65_535);
    await c.write(put);
    await c.write(getMsg(key));
    const [reply] = await c.waitForReplies(1);
    assertSuccess(reply, key, value);
    const other = await open();
    assert.deepEqual(await other.get(key), value);
  });

  test("read-your-writes: a GET in the same write as its PUT sees it", PER_TEST, async () => {
    const c = await open();
    const overwritten = keyOf("ryw-overwritten");
    await c.write(putMsg(overwritten, Buffer.from("old")));
    assert.deepEqual(await c.get(overwritten), Buffer.from("old"));

    const keys = Array.from({ length: 100 }, (_, i) => keyOf(`ryw-${i}`));
    const batch = Buffer.concat([
      ...keys.flatMap((k, i) => [putMsg(k, Buffer.from(`ryw ${i}`)), getMsg(k)]),
      putMsg(overwritten, Buffer.from("new")),
      getMsg(overwritten),
    ]);
    await c.write(batch);
    const replies = (await c.waitForReplies(1 + keys.length + 1)).slice(1);
    const grouped = byKey(replies);
    keys.forEach((k, i) => {
      const list = grouped.get(k.toString("latin1"));
      assert.equal(list?.length, 1);
      assertSuccess(list[0], k, Buffer.from(`ryw ${i}`));
    });
    const last = grouped.get(overwritten.toString("latin1"));
    assert.equal(last?.length, 1);
    assertSuccess(last[0], overwritten, Buffer.from("new"));
  });

  test("every GET gets exactly one reply, FAILURE for each missing key", PER_TEST, async () => {
    const c = await open();
    const stored = keyOf("one-reply-stored");
    await c.write(putMsg(stored, Buffer.from("here")));
    const missing = Array.from({ length: 300 }, (_, i) => keyOf(`one-reply-missing-${i}`));
    const repeated = keyOf("one-reply-missing-repeated");
    const requests = [
      ...missing.map((k) => getMsg(k)),
      ...Array.from({ length: 20 }, () => getMsg(repeated)),
      ...Array.from({ length: 10 }, () => getMsg(stored)),
    ];
    await c.write(Buffer.concat(requests));
    await c.waitForReplies(requests.length);
    c.end(); // the node answers what is in flight, then closes: nothing more may come
    await c.closed;
    assert.equal(c.replies.length, requests.length);
    const grouped = byKey(c.replies);
    for (const k of missing) {
      const list = grouped.get(k.toString("latin1"));
      assert.equal(list?.length, 1);
      assert.equal(list[0]?.type, ApiTypes.Failure);
      assert.equal(list[0]?.size, 36);
    }
    const rep = grouped.get(repeated.toString("latin1"));
    assert.equal(rep?.length, 20);
    assert.ok(rep.every((r) => r.type === ApiTypes.Failure && r.size === 36));
    const here = grouped.get(stored.toString("latin1"));
    assert.equal(here?.length, 10);
    for (const r of here) assertSuccess(r, stored, Buffer.from("here"));
  });

  test(
    "clients hanging up mid-message or with GETs in flight do not affect the node",
    PER_TEST,
    async () => {
      const keeper = await open();
      const key = keyOf("hangup");
      const big = randomBytes(MAX_VALUE_BYTES);
      await keeper.write(putMsg(key, big));
      assert.deepEqual(await keeper.get(key), big);

      const put = putMsg(keyOf("hangup-never-complete"), Buffer.from("never complete"));
      const cuts = [
        put.subarray(0, 2), // mid-header
        put.subarray(0, 20), // mid-body
        Buffer.concat(Array.from({ length: 200 }, () => getMsg(key))), // 13 MB of replies owed
      ];
      for (const bytes of cuts) {
        const c = await open();
        await c.write(bytes);
        c.destroy();
        await c.closed;
        const next = await open();
        await next.write(putMsg(keyOf("hangup-next"), bytes.subarray(0, 1)));
        assert.deepEqual(await next.get(keyOf("hangup-next")), bytes.subarray(0, 1));
        next.destroy();
      }
      assert.equal(keeper.isClosed, false);
      assert.deepEqual(await keeper.get(key), big);
      assert.equal(await keeper.get(keyOf("hangup-never-complete")), undefined);
    },
  );

  test(
    "half-close: after PUT+GET and end(), the GET reply still arrives, then the node closes",
    PER_TEST,
    async () => {
      const c = await open();
      const key = keyOf("half-close");
      const value = Buffer.from("answered after FIN");
      await c.write(Buffer.concat([putMsg(key, value), getMsg(key)]));
      c.end();
      await c.closed;
      assert.equal(c.replies.length, 1);
      assertSuccess(c.replies[0], key, value);
      assert.equal(c.endedByPeer, true, "the node ended its side in order (FIN, no reset)");
      assert.equal(c.received.length, 36 + value.length);

      // Many large replies still owed at the FIN all arrive.
      const c2 = await open();
      const big = randomBytes(MAX_VALUE_BYTES);
      const bigKey = keyOf("half-close-big");
      await c2.write(
        Buffer.concat([putMsg(bigKey, big), ...Array.from({ length: 100 }, () => getMsg(bigKey))]),
      );
      c2.end();
      await c2.closed;
      assert.equal(c2.replies.length, 100);
      for (const r of c2.replies) assertSuccess(r, bigKey, big);
    },
  );
}
