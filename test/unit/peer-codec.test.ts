// The peer codec: every RPC's request and reply round trip through framing,
// the incremental decoder (fed arbitrary chunks) and schema validation; and
// everything malformed (corrupt, oversized, unknown, off-schema, garbage) is a
// PeerProtocolError and nothing else.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { Packr } from "msgpackr";
import {
  checkReply,
  decodePayload,
  ERROR_TYPE,
  encodeError,
  encodeReply,
  encodeRequest,
  PEER_FRAME_HEADER_BYTES,
  PEER_MAX_PAYLOAD_BYTES,
  PEER_MAX_SUCCESSORS,
  PEER_PROTOCOL_VERSION,
  PeerFrameDecoder,
  type PeerMessage,
  PeerProtocolError,
  REPLY_TYPE,
  RPC,
  type RpcName,
  type RpcReq,
  type RpcRes,
  type WireRecord,
} from "../../src/wire/peer.js";

const NAMES = Object.keys(RPC) as RpcName[];

// --- arbitraries of valid bodies ----------------------------------------------

/** fc.record with plain objects (a decoded MessagePack map has Object's prototype). */
const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> =>
  fc.record(model, { noNullPrototype: true });
const bytes = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b));
const key = bytes(32, 32);
const host = fc.oneof(
  fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,40}$/),
  fc.ipV4(),
  fc.ipV6().map((ip) => `[${ip}]`),
);
const addr = fc.tuple(host, fc.integer({ min: 0, max: 65_535 })).map(([h, p]) => `${h}:${p}`);
const succs = fc.array(addr, { maxLength: PEER_MAX_SUCCESSORS });
const hops = fc.integer({ min: 0, max: 255 });
/** Non-negative finite numbers, integers and fractions (no -0: MessagePack writes it as 0). */
const num = fc.oneof(
  fc.maxSafeNat(),
  fc.double({ min: 0, max: 2 ** 53, noNaN: true }).map((x) => x + 0),
);
const record: fc.Arbitrary<WireRecord> = rec({
  value: fc.oneof(
    { arbitrary: bytes(1, 64), weight: 5 },
    { arbitrary: bytes(65_495, 65_495), weight: 1 },
  ),
  version: num,
  deadline: num,
  replication: fc.integer({ min: 1, max: 255 }),
});
const empty = fc.constant({});
const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((u) => Buffer.from(u));
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const rep = fc.integer({ min: 1, max: 255 });

const REQ: { [K in RpcName]: fc.Arbitrary<RpcReq<K>> } = {
  ping: empty,
  getNode: rec({ pos: key, hops }),
  getNeighbours: empty,
  notify: empty,
  getValue: rec({ key }),
  insertValue: rec({ key, rec: record, strict: fc.boolean() }),
  storeReplicas: rec({ entries: fc.array(rec({ key, rec: record }), { maxLength: 4 }) }),
  splitNode: empty,
  leaving: rec({ pred: fc.option(addr, { nil: null }), succs }),
  newSuccessor: empty,
  syncRange: rec({ lo: key, hi: key, minReplication: rep, root: u32, count: u32 }),
  syncBuckets: rec({
    lo: key,
    hi: key,
    minReplication: rep,
    buckets: fc.array(fc.integer({ min: 0, max: 63 }), { maxLength: 64 }),
    have: fc.array(rec({ key, version: num, digest: u32 }), { maxLength: 4 }),
  }),
  mergeHint: rec({ node: addr }),
  hello: rec({ port: fc.integer({ min: 1, max: 65_535 }), ticket: bytes16 }),
  prove: rec({ ticket: bytes16 }),
  admitChallenge: empty,
  admit: rec({
    challenge: bytes16,
    solution: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((u) => Buffer.from(u)),
  }),
};

const RES: { [K in RpcName]: fc.Arbitrary<RpcRes<K>> } = {
  ping: empty,
  getNode: rec({ node: addr, succs, hops }),
  getNeighbours: rec({ pred: fc.option(addr, { nil: null }), succs }),
  notify: empty,
  getValue: rec({ rec: fc.option(record, { nil: null }), owner: fc.boolean() }),
  insertValue: rec({ stored: fc.boolean(), owner: fc.boolean() }),
  storeReplicas: rec({ stored: fc.nat() }),
  splitNode: rec({ sent: fc.nat() }),
  leaving: empty,
  newSuccessor: empty,
  syncRange: rec({ match: fc.boolean(), count: u32, buckets: fc.array(u32, { maxLength: 64 }) }),
  syncBuckets: rec({
    give: fc.array(rec({ key, rec: record }), { maxLength: 4 }),
    want: fc.array(key, { maxLength: 4 }),
    more: fc.boolean(),
  }),
  mergeHint: empty,
  hello: rec({ seenAs: addr }),
  prove: rec({ mine: fc.boolean() }),
  admitChallenge: rec({ challenge: bytes16, bits: fc.integer({ min: 0, max: 64 }) }),
  admit: empty,
};

const requestId = fc.integer({ min: 0, max: 2 ** 32 - 1 });
/** Cut points for splitting a byte string into chunks. */
const cuts = fc.array(fc.nat(), { maxLength: 8 });

// --- helpers --------------------------------------------------------------------

/**
 * Feeds `stream` to one decoder in chunks split at `at` (taken modulo its
 * length); unless `partial`, the stream must end on a frame boundary.
 */
function decodeChunks(stream: Buffer, at: number[] = [], partial = false): PeerMessage[] {
  const points = [...new Set(at.map((n) => n % (stream.length + 1)))].sort((a, b) => a - b);
  const decoder = new PeerFrameDecoder();
  const out: PeerMessage[] = [];
  let from = 0;
  for (const to of [...points, stream.length]) {
    decoder.push(stream.subarray(from, to), (payload) => out.push(decodePayload(payload)));
    from = to;
  }
  if (!partial) assert.equal(decoder.buffered, 0, "bytes left over in the decoder");
  return out;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** A well-framed payload holding any value. */
function frameOf(value: unknown): Buffer {
  const payload = packr.pack(value);
  const head = Buffer.alloc(PEER_FRAME_HEADER_BYTES);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
}

const payloadOf = (frame: Buffer): Buffer => frame.subarray(PEER_FRAME_HEADER_BYTES);

function rejects(run: () => unknown, pattern: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof PeerProtocolError, `not a PeerProtocolError: ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

// --- tests ----------------------------------------------------------------------

describe("peer codec round trips", () => {
  for (const name of NAMES) {
    test(`${name}: request and reply survive framing, any chunking, and validation`, () => {
      roundTrip(name);
    });
  }

  function roundTrip<K extends RpcName>(name: K): void {
    fc.assert(
      fc.property(requestId, REQ[name], RES[name], cuts, (id, req, res, at) => {
        const stream = Buffer.concat([encodeRequest(id, name, req), encodeReply(id, res)]);
        const [request, reply, ...rest] = decodeChunks(stream, at);
        assert.deepEqual(request, { kind: "request", id, name, body: req });
        assert.deepEqual(reply, { kind: "reply", id, body: res });
        assert.equal(rest.length, 0);
        assert.deepEqual(checkReply(name, reply!.body), res);
      }),
      { numRuns: 60 },
    );
  }

  test("decoded byte fields are Buffers", () => {
    const [msg] = decodeChunks(encodeRequest(1, "getValue", { key: Buffer.alloc(32, 9) }));
    assert.ok(msg?.kind === "request");
    assert.ok(Buffer.isBuffer((msg.body as { key: unknown }).key));
  });

  test("error replies round trip; messages are cut to 1000 characters", () => {
    fc.assert(
      fc.property(
        requestId,
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.string({ unit: "grapheme-ascii", maxLength: 1_200 }),
        (id, code, msg) => {
          const [decoded] = decodeChunks(encodeError(id, code, msg));
          assert.deepEqual(decoded, { kind: "error", id, code, msg: msg.slice(0, 1_000) });
        },
      ),
      { numRuns: 50 },
    );
    const [long] = decodeChunks(encodeError(7, "oops", "é".repeat(5_000)));
    assert.deepEqual(long, { kind: "error", id: 7, code: "oops", msg: "é".repeat(1_000) });
  });

  test("a stream of many frames decodes in order, fed one byte at a time or all at once", () => {
    const pos = Buffer.alloc(32, 1);
    const frames = [
      encodeRequest(1, "ping", {}),
      encodeRequest(2, "getNode", { pos, hops: 7 }),
      encodeReply(2, { node: "a:1", succs: ["b:2"], hops: 7 }),
      encodeError(3, "busy", "later"),
    ];
    const stream = Buffer.concat(frames);
    const expected = [
      { kind: "request", id: 1, name: "ping", body: {} },
      { kind: "request", id: 2, name: "getNode", body: { pos, hops: 7 } },
      { kind: "reply", id: 2, body: { node: "a:1", succs: ["b:2"], hops: 7 } },
      { kind: "error", id: 3, code: "busy", msg: "later" },
    ];
    assert.deepEqual(decodeChunks(stream), expected);
    assert.deepEqual(
      decodeChunks(
        stream,
        Array.from({ length: stream.length }, (_, i) => i),
      ),
      expected,
    );
  });
});

describe("peer codec rejects", () => {
  const sample = encodeRequest(42, "getNode", { pos: Buffer.alloc(32, 5), hops: 1 });

  test("any corrupted payload or checksum byte: checksum mismatch", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: sample.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (index, flip) => {
          const bad = Buffer.from(sample);
          bad[index]! ^= flip;
          rejects(() => decodeChunks(bad), /checksum/);
        },
      ),
    );
  });

  test("an oversized length header, before any payload is buffered", () => {
    for (const length of [PEER_MAX_PAYLOAD_BYTES + 1, 0xffff_ffff]) {
      const head = Buffer.alloc(PEER_FRAME_HEADER_BYTES);
      head.writeUInt32BE(length, 0);
      const decoder = new PeerFrameDecoder();
      rejects(() => decoder.push(head, () => assert.fail("payload")), /exceeds/);
    }
    const atLimit = Buffer.alloc(PEER_FRAME_HEADER_BYTES);
    atLimit.writeUInt32BE(PEER_MAX_PAYLOAD_BYTES, 0);
    const decoder = new PeerFrameDecoder();
    decoder.push(atLimit, () => assert.fail("payload"));
    assert.equal(decoder.buffered, PEER_FRAME_HEADER_BYTES);
  });

  test("the encoder refuses payloads over the limit", () => {
    assert.throws(() => encodeReply(1, { blob: Buffer.alloc(PEER_MAX_PAYLOAD_BYTES) }), RangeError);
  });

  test("unknown message types, including the API's range", () => {
    for (const t of [19, 42, 99, 650, 255]) {
      rejects(
        () => decodeChunks(frameOf({ v: PEER_PROTOCOL_VERSION, t, id: 1, b: {} })),
        /unknown peer message type|envelope/,
      );
    }
  });

  test("a wrong or missing protocol version, or a broken envelope", () => {
    for (const envelope of [
      { v: PEER_PROTOCOL_VERSION + 1, t: 1, id: 1, b: {} },
      { v: "1", t: 1, id: 1, b: {} },
      { t: 1, id: 1, b: {} },
      { v: PEER_PROTOCOL_VERSION, t: 1, b: {} },
      { v: PEER_PROTOCOL_VERSION, t: 1, id: -1, b: {} },
      { v: PEER_PROTOCOL_VERSION, t: 1, id: 2 ** 32, b: {} },
      { v: PEER_PROTOCOL_VERSION, t: 1.5, id: 1, b: {} },
      [1, 1, 1, {}],
      "ping",
      null,
    ]) {
      rejects(() => decodeChunks(frameOf(envelope)), /envelope/);
    }
  });

  test("request bodies off the schema", () => {
    const key = Buffer.alloc(32);
    const rec = { value: Buffer.from([1]), version: 1, deadline: 2, replication: 3 };
    const bad: [number, unknown][] = [
      [RPC.getValue.t, { key: Buffer.alloc(31) }],
      [RPC.getValue.t, { key: Buffer.alloc(33) }],
      [RPC.getValue.t, { key: "x".repeat(32) }],
      [RPC.getValue.t, {}],
      [RPC.getNode.t, { pos: key, hops: 256 }],
      [RPC.getNode.t, { pos: key }],
      [RPC.insertValue.t, { key }],
      [RPC.insertValue.t, { key, rec: { ...rec, replication: 0 } }],
      [RPC.insertValue.t, { key, rec: { ...rec, value: Buffer.alloc(0) } }],
      [RPC.insertValue.t, { key, rec: { ...rec, version: -1 } }],
      [RPC.insertValue.t, { key, rec: { value: rec.value, version: 1, deadline: 2 } }],
      [RPC.mergeHint.t, { node: "no-port" }],
      [RPC.mergeHint.t, { node: "host:123456" }],
      [RPC.mergeHint.t, { node: "a b:1" }],
      [RPC.hello.t, { port: 0, ticket: Buffer.alloc(16) }],
      [RPC.hello.t, { port: 1, ticket: Buffer.alloc(15) }],
      [RPC.admit.t, { challenge: Buffer.alloc(16), solution: Buffer.alloc(9) }],
      [RPC.leaving.t, { pred: null, succs: Array(PEER_MAX_SUCCESSORS + 1).fill("a:1") }],
      [RPC.leaving.t, { succs: [] }],
      [RPC.ping.t, undefined],
    ];
    for (const [t, b] of bad) {
      rejects(() => decodeChunks(frameOf({ v: PEER_PROTOCOL_VERSION, t, id: 1, b })), /malformed/);
    }
  });

  test("reply bodies off the schema", () => {
    const tooMany = Array(PEER_MAX_SUCCESSORS + 1).fill("a:1");
    rejects(
      () => checkReply("getNeighbours", { pred: null, succs: tooMany }),
      /malformed getNeighbours reply/,
    );
    rejects(() => checkReply("getNeighbours", { succs: [] }), /malformed/);
    rejects(() => checkReply("getNode", { node: "no-port", succs: [], hops: 0 }), /malformed/);
    rejects(() => checkReply("getValue", { rec: { value: Buffer.from([1]) } }), /malformed/);
    rejects(() => checkReply("insertValue", { stored: "yes" }), /malformed/);
    rejects(() => checkReply("storeReplicas", { stored: -1 }), /malformed/);
    rejects(() => checkReply("ping", undefined), /malformed/);
    assert.deepEqual(checkReply("getNeighbours", { pred: null, succs: tooMany.slice(1) }), {
      pred: null,
      succs: tooMany.slice(1),
    });
  });

  test("garbage bytes never throw anything but PeerProtocolError", () => {
    const onlyProtocolErrors = (run: () => unknown) => {
      try {
        run();
      } catch (err) {
        assert.ok(err instanceof PeerProtocolError, `threw ${String(err)}`);
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), cuts, (garbage, at) => {
        const raw = Buffer.from(garbage);
        onlyProtocolErrors(() => decodeChunks(raw, at, true));
        onlyProtocolErrors(() => decodePayload(raw));
        onlyProtocolErrors(() => decodePayload(payloadOf(frameOf(garbage))));
      }),
      { numRuns: 500 },
    );
  });

  test("any MessagePack value, or any near-envelope, decodes or is a PeerProtocolError", () => {
    const nearEnvelope = fc.record(
      {
        v: fc.constantFrom(1, 2),
        t: fc.oneof(
          fc.constantFrom(...NAMES.map((n) => RPC[n].t), REPLY_TYPE, ERROR_TYPE),
          fc.nat(300),
        ),
        id: fc.oneof(fc.nat(), fc.integer()),
        b: fc.anything(),
        code: fc.string(),
        msg: fc.string(),
      },
      { requiredKeys: ["v", "t", "id"] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.anything(), nearEnvelope), (value) => {
        try {
          const msg = decodePayload(packr.pack(value));
          assert.ok(["request", "reply", "error"].includes(msg.kind));
        } catch (err) {
          assert.ok(err instanceof PeerProtocolError, `threw ${String(err)}`);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("the RPC table", () => {
  test("type numbers are unique, 1..255, not the reply or error type, and outside the API's 650-679", () => {
    const types: number[] = NAMES.map((n) => RPC[n].t);
    assert.equal(new Set(types).size, types.length);
    for (const t of types) {
      assert.ok(Number.isInteger(t) && t >= 1 && t <= 255, `${t}`);
      assert.ok(t !== REPLY_TYPE && t !== ERROR_TYPE, `${t}`);
      assert.ok(t < 650 || t > 679, `${t}`);
    }
    assert.ok(
      new Set<number>([REPLY_TYPE, ERROR_TYPE]).size === 2 &&
        Math.max(REPLY_TYPE, ERROR_TYPE) < 650,
    );
  });
});
