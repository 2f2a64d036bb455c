// Reusable fast-check arbitraries for fuzzing what hostile peers and clients
// can send: API frames (valid, mutated, garbage), peer frames (valid,
// near-schema MessagePack bodies, raw MessagePack-like bytes, byte-level
// mutations), and schema-valid hostile peer requests for the handler fuzzer.
// Mutations are plain data, so a counterexample reads as what was done to
// which frame. Large buffers are patterned, not drawn byte by byte: a 64 KiB
// uint8Array costs 64 Ki draws, a patterned one two.

import { crc32 } from "node:zlib";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { nodeIdOf } from "../../src/ring/id.js";
import { type ApiMessage, encodeApi, type Sender } from "../../src/wire/api.js";
import {
  ERROR_TYPE,
  encodeError,
  encodeReply,
  encodeRequest,
  PEER_FRAME_HEADER_BYTES,
  PEER_MAX_PAYLOAD_BYTES,
  PEER_MAX_SUCCESSORS,
  REPLY_TYPE,
  RPC,
  type RpcName,
  type RpcReq,
  SYNC_BUCKETS,
  TRANSPORT_RPCS,
  type WireRecord,
} from "../../src/wire/peer.js";

export const RPC_NAMES = Object.keys(RPC) as RpcName[];
/** The RPCs a node's handlers answer (hello and prove are the TCP transport's own). */
export const NODE_RPC_NAMES = RPC_NAMES.filter(
  (n) => !(TRANSPORT_RPCS as readonly string[]).includes(n),
);

// --- bytes and chunking ------------------------------------------------------------

/** fc.record with plain objects (a decoded MessagePack map has Object's prototype). */
export const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> =>
  fc.record(model, { noNullPrototype: true });

/** `length` bytes following a cheap pattern from `seed`. */
export function patterned(length: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) buf[i] = (seed + i * 131 + (i >>> 8)) & 0xff;
  return buf;
}

/** Random bytes when short, patterned bytes up to `max` (rarely). */
export const bytes = (min: number, max: number, smallMax = Math.min(max, 64)) =>
  max <= smallMax
    ? fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b))
    : fc.oneof(
        {
          arbitrary: fc
            .uint8Array({ minLength: min, maxLength: smallMax })
            .map((b) => Buffer.from(b)),
          weight: 60,
        },
        {
          arbitrary: fc
            .tuple(fc.integer({ min: Math.max(min, smallMax), max }), fc.nat(255))
            .map(([n, seed]) => patterned(n, seed)),
          weight: 1,
        },
        { arbitrary: fc.nat(255).map((seed) => patterned(max, seed)), weight: 1 },
      );

/** Cut points (taken modulo the stream length + 1) splitting a stream into chunks. */
export const cuts = fc.oneof(
  { arbitrary: fc.array(fc.nat(), { maxLength: 12 }), weight: 15 },
  { arbitrary: fc.constant("bytewise" as const), weight: 1 },
);
export type Cuts = number[] | "bytewise";

/** Splits `stream` at the cut points, empty chunks included (a socket never delivers one; a caller may push one). */
export function splitAt(stream: Buffer, at: Cuts): Buffer[] {
  if (at === "bytewise") {
    if (stream.length > 4096) return splitAt(stream, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    return Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
  }
  const points = at.map((n) => n % (stream.length + 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const to of [...points, stream.length]) {
    out.push(stream.subarray(from, to));
    from = to;
  }
  return out;
}

/** Byte-level damage to one frame, as data. */
export type Mutation =
  | { op: "flip"; at: number; mask: number }
  | { op: "truncate"; keep: number }
  | { op: "extend"; extra: Buffer }
  | { op: "splice"; at: number; insert: Buffer }
  | { op: "cut"; at: number; count: number }
  | { op: "u16"; at: number; value: number }
  | { op: "u32"; at: number; value: number };

const mutation = (headerFields: fc.Arbitrary<{ at: number; value: number }>[]) =>
  fc.oneof(
    {
      arbitrary: rec({
        op: fc.constant("flip" as const),
        at: fc.nat(),
        mask: fc.integer({ min: 1, max: 255 }),
      }),
      weight: 4,
    },
    { arbitrary: rec({ op: fc.constant("truncate" as const), keep: fc.nat() }), weight: 2 },
    { arbitrary: rec({ op: fc.constant("extend" as const), extra: bytes(1, 40) }), weight: 2 },
    {
      arbitrary: rec({ op: fc.constant("splice" as const), at: fc.nat(), insert: bytes(1, 8) }),
      weight: 1,
    },
    {
      arbitrary: rec({
        op: fc.constant("cut" as const),
        at: fc.nat(),
        count: fc.integer({ min: 1, max: 8 }),
      }),
      weight: 1,
    },
    ...headerFields.map((arbitrary) => ({ arbitrary, weight: 3 })),
  ) as fc.Arbitrary<Mutation>;

export function mutate(frame: Buffer, m: Mutation): Buffer {
  const at = (n: number, len = frame.length) => (len === 0 ? 0 : n % len);
  switch (m.op) {
    case "flip": {
      if (frame.length === 0) return frame;
      const out = Buffer.from(frame);
      out[at(m.at)]! ^= m.mask;
      return out;
    }
    case "truncate":
      return frame.subarray(0, m.keep % (frame.length + 1));
    case "extend":
      return Buffer.concat([frame, m.extra]);
    case "splice": {
      const i = at(m.at, frame.length + 1);
      return Buffer.concat([frame.subarray(0, i), m.insert, frame.subarray(i)]);
    }
    case "cut": {
      const i = at(m.at);
      return Buffer.concat([frame.subarray(0, i), frame.subarray(i + m.count)]);
    }
    case "u16": {
      if (frame.length < m.at + 2) return frame;
      const out = Buffer.from(frame);
      out.writeUInt16BE(m.value & 0xffff, m.at);
      return out;
    }
    case "u32": {
      if (frame.length < m.at + 4) return frame;
      const out = Buffer.from(frame);
      out.writeUInt32BE(m.value >>> 0, m.at);
      return out;
    }
  }
}

// --- the API -------------------------------------------------------------------------

const apiKey = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b));
const apiPutValue = bytes(1, 65_495);
const apiSuccessValue = bytes(1, 65_499);

export const apiMessage = (sender: Sender): fc.Arbitrary<ApiMessage> =>
  sender === "client"
    ? fc.oneof(
        rec({
          type: fc.constant("put" as const),
          ttl: fc.integer({ min: 0, max: 0xffff }),
          replication: fc.integer({ min: 0, max: 0xff }),
          key: apiKey,
          value: apiPutValue,
        }),
        rec({ type: fc.constant("get" as const), key: apiKey }),
        fc.constant<ApiMessage>({ type: "shutdown" }),
      )
    : fc.oneof(
        rec({ type: fc.constant("success" as const), key: apiKey, value: apiSuccessValue }),
        rec({ type: fc.constant("failure" as const), key: apiKey }),
      );

/** Sizes and types on the edges of the API's rules. */
const apiSize = fc.oneof(
  fc.constantFrom(0, 1, 3, 4, 5, 35, 36, 37, 39, 40, 41, 65_534, 65_535),
  fc.integer({ min: 0, max: 0xffff }),
);
const apiType = fc.oneof(
  fc.constantFrom(0, 1, 649, 650, 651, 652, 653, 654, 655, 679, 680, 999, 0xffff),
  fc.integer({ min: 0, max: 0xffff }),
);
const apiMutation = mutation([
  rec({ op: fc.constant("u16" as const), at: fc.constant(0), value: apiSize }),
  rec({ op: fc.constant("u16" as const), at: fc.constant(2), value: apiType }),
]);

/** One piece of an API byte stream: a frame as encoded, damaged, or plain garbage. */
export type ApiPart =
  | { kind: "valid"; msg: ApiMessage }
  | { kind: "mutated"; msg: ApiMessage; mutations: Mutation[]; fixSize: boolean }
  | { kind: "header"; size: number; type: number; body: Buffer }
  | { kind: "garbage"; bytes: Buffer };

const apiPart = (sender: Sender): fc.Arbitrary<ApiPart> => {
  const any = fc.oneof(apiMessage("client"), apiMessage("node"));
  const own = apiMessage(sender);
  return fc.oneof(
    { arbitrary: rec({ kind: fc.constant("valid" as const), msg: own }), weight: 6 },
    {
      arbitrary: rec({
        kind: fc.constant("mutated" as const),
        msg: fc.oneof({ arbitrary: own, weight: 3 }, { arbitrary: any, weight: 1 }),
        mutations: fc.array(apiMutation, { minLength: 1, maxLength: 3 }),
        fixSize: fc.boolean(),
      }),
      weight: 4,
    },
    {
      arbitrary: rec({
        kind: fc.constant("header" as const),
        size: apiSize,
        type: apiType,
        body: bytes(0, 80),
      }),
      weight: 2,
    },
    { arbitrary: rec({ kind: fc.constant("garbage" as const), bytes: bytes(0, 200) }), weight: 2 },
  );
};

export function apiPartBytes(part: ApiPart): Buffer {
  switch (part.kind) {
    case "valid":
      return encodeApi(part.msg);
    case "mutated": {
      let frame = encodeApi(part.msg);
      for (const m of part.mutations) frame = mutate(frame, m);
      if (part.fixSize && frame.length >= 2) frame.writeUInt16BE(frame.length & 0xffff, 0);
      return frame;
    }
    case "header": {
      const head = Buffer.alloc(4);
      head.writeUInt16BE(part.size, 0);
      head.writeUInt16BE(part.type, 2);
      return Buffer.concat([head, part.body]);
    }
    case "garbage":
      return part.bytes;
  }
}

/** An API connection's input: frames of several kinds, cut into chunks, with reading paused at times. */
export interface ApiCase {
  sender: Sender;
  parts: ApiPart[];
  cuts: Cuts;
  /** onFrame returns false (reading pauses) for frame i when pauses[i % length]. */
  pauses: boolean[];
}

export const apiCase: fc.Arbitrary<ApiCase> = fc
  .constantFrom<Sender>("client", "node")
  .chain((sender) =>
    rec({
      sender: fc.constant(sender),
      parts: fc.array(apiPart(sender), { minLength: 1, maxLength: 8 }),
      cuts,
      pauses: fc.array(fc.boolean(), { maxLength: 4 }),
    }),
  );

// --- peer frames: valid bodies -----------------------------------------------------

const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b));
const host = fc.oneof(
  fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,40}$/),
  fc.ipV4(),
  fc.ipV6().map((ip) => `[${ip}]`),
);
/** Any address the schema accepts. */
export const anyAddr = fc
  .tuple(host, fc.integer({ min: 0, max: 99_999 }))
  .map(([h, p]) => `${h}:${p}`);
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const rep = fc.integer({ min: 1, max: 255 });
const hops = fc.integer({ min: 0, max: 255 });
/** Schema-valid numbers (>= 0, finite) with the edges: 0, fractions, 2^53, the largest double. */
export const wireNumber = fc.oneof(
  fc.constantFrom(0, 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 64, 1e300, Number.MAX_VALUE),
  fc.maxSafeNat(),
  fc.double({ min: 0, max: Number.MAX_VALUE, noNaN: true }).map((x) => x + 0),
);
const record = (numbers: fc.Arbitrary<number>, deadlines: fc.Arbitrary<number>) =>
  rec<WireRecord>({
    value: bytes(1, 65_495),
    version: numbers,
    deadline: deadlines,
    replication: rep,
  });

/** Schema-valid request bodies from given address, key, position and number sources. */
export function requestBodies(src: {
  addr: fc.Arbitrary<string>;
  key: fc.Arbitrary<Buffer>;
  pos: fc.Arbitrary<Buffer>;
  version: fc.Arbitrary<number>;
  deadline: fc.Arbitrary<number>;
  maxEntries: number;
}): { [K in RpcName]: fc.Arbitrary<RpcReq<K>> } {
  const r = record(src.version, src.deadline);
  const empty = fc.constant({});
  const succs = fc.array(src.addr, { maxLength: PEER_MAX_SUCCESSORS, size: "max" });
  return {
    ping: empty,
    getNode: rec({ pos: src.pos, hops }),
    getNeighbours: empty,
    notify: empty,
    getValue: rec({ key: src.key }),
    insertValue: fc.oneof(
      rec({ key: src.key, rec: r }),
      rec({ key: src.key, rec: r, strict: fc.boolean() }),
    ),
    storeReplicas: rec({
      entries: fc.array(rec({ key: src.key, rec: r }), { maxLength: src.maxEntries }),
    }),
    splitNode: empty,
    leaving: rec({ pred: fc.option(src.addr, { nil: null }), succs }),
    newSuccessor: empty,
    syncRange: rec({ lo: src.pos, hi: src.pos, minReplication: rep, root: u32, count: u32 }),
    syncBuckets: rec({
      lo: src.pos,
      hi: src.pos,
      minReplication: rep,
      buckets: fc.array(fc.integer({ min: 0, max: SYNC_BUCKETS - 1 }), {
        maxLength: SYNC_BUCKETS,
      }),
      have: fc.array(rec({ key: src.key, version: src.version, digest: u32 }), {
        maxLength: src.maxEntries,
      }),
    }),
    mergeHint: rec({ node: src.addr }),
    hello: rec({ port: fc.integer({ min: 1, max: 65_535 }), ticket: bytes(16, 16) }),
    prove: rec({ ticket: bytes(16, 16) }),
    admitChallenge: empty,
    admit: rec({ challenge: bytes(16, 64), solution: bytes(8, 8) }),
  };
}

const VALID_REQ = requestBodies({
  addr: anyAddr,
  key,
  pos: key,
  version: wireNumber,
  deadline: wireNumber,
  maxEntries: 4,
});

/** A valid request of any type, as (name, body). */
export const validRequest: fc.Arbitrary<{ name: RpcName; body: unknown }> = fc.oneof(
  ...RPC_NAMES.map((name) =>
    (VALID_REQ[name] as fc.Arbitrary<unknown>).map((body) => ({ name, body })),
  ),
);

// --- peer frames: hostile values and near-schema bodies ------------------------------

/** Values that break a schema: wrong types, out of range numbers, oversized strings, nesting. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  {
    arbitrary: fc.constantFrom<unknown>(
      -1,
      -0,
      0.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      Number.MIN_VALUE,
      2 ** 32,
      2 ** 53,
      2 ** 64,
      256,
      -(2 ** 31),
      2n ** 63n,
      -(2n ** 63n),
      2n ** 64n - 1n,
      "",
      "a:1",
      "[::1]:7000",
      "no-port",
      "host:123456",
      "__proto__",
      "constructor",
      true,
      false,
      null,
      undefined,
      [],
      {},
      new Date(0),
      new Map([[1, 2]]),
    ),
    weight: 20,
  },
  { arbitrary: fc.integer(), weight: 4 },
  { arbitrary: fc.double(), weight: 4 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 4 },
  {
    // any code points, lone surrogates included (fc's "binary" unit costs a second to build)
    arbitrary: fc
      .array(fc.integer({ min: 0, max: 0x10ffff }), { maxLength: 20 })
      .map((cps) => String.fromCodePoint(...cps)),
    weight: 2,
  },
  { arbitrary: fc.constantFrom(0, 1, 31, 33).map((n) => Buffer.alloc(n)), weight: 4 },
  {
    arbitrary: fc.anything({
      maxDepth: 3,
      maxKeys: 4,
      withBigInt: true,
      withDate: true,
      withMap: true,
    }),
    weight: 4,
  },
  // expensive ones, rarely: long strings, large buffers and arrays, deep nesting
  { arbitrary: fc.integer({ min: 0, max: 5000 }).map((n) => "x".repeat(n * 10)), weight: 1 },
  {
    arbitrary: fc.constantFrom(301, 1001, 65_496, 70_000).map((n) => Buffer.alloc(n, 7)),
    weight: 1,
  },
  {
    arbitrary: fc.nat(8).map((depth) => {
      let v: unknown = 1;
      for (let i = 0; i < depth * 20; i++) v = i % 2 === 0 ? [v] : { b: v };
      return v;
    }),
    weight: 1,
  },
  {
    arbitrary: fc
      .constantFrom(33, 65, 4097)
      .map((n) => Array.from({ length: n }, (_, i) => `h${i}:1`)),
    weight: 1,
  },
);

/** A body like `valid`, damaged: a field gets a hostile value, goes missing, or gains a sibling. */
export type BodyDamage =
  | { op: "set"; field: number; value: unknown }
  | { op: "delete"; field: number }
  | { op: "add"; name: string; value: unknown }
  | { op: "replace"; value: unknown }
  | { op: "deep"; field: number; inner: number; value: unknown };

const bodyDamage: fc.Arbitrary<BodyDamage> = fc.oneof(
  {
    arbitrary: rec({ op: fc.constant("set" as const), field: fc.nat(), value: hostileValue }),
    weight: 6,
  },
  { arbitrary: rec({ op: fc.constant("delete" as const), field: fc.nat() }), weight: 2 },
  {
    arbitrary: rec({
      op: fc.constant("add" as const),
      name: fc.string({ maxLength: 8 }),
      value: hostileValue,
    }),
    weight: 1,
  },
  { arbitrary: rec({ op: fc.constant("replace" as const), value: hostileValue }), weight: 1 },
  {
    arbitrary: rec({
      op: fc.constant("deep" as const),
      field: fc.nat(),
      inner: fc.nat(),
      value: hostileValue,
    }),
    weight: 3,
  },
) as fc.Arbitrary<BodyDamage>;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);

/** Applies one damage to a copy of `body` (one level of nesting for "deep": rec, entries[i], succs[i]). */
export function damage(body: unknown, d: BodyDamage): unknown {
  if (d.op === "replace" || !isPlainObject(body)) return d.op === "replace" ? d.value : body;
  const out: Record<string, unknown> = { ...body };
  const fields = Object.keys(out);
  const field =
    fields.length === 0 ? undefined : fields[("field" in d ? d.field : 0) % fields.length];
  switch (d.op) {
    case "set":
      if (field !== undefined) out[field] = d.value;
      else out.x = d.value;
      return out;
    case "delete":
      if (field !== undefined) delete out[field];
      return out;
    case "add":
      out[d.name === "__proto__" ? "__proto_" : d.name] = d.value;
      return out;
    case "deep": {
      if (field === undefined) return out;
      const inner = out[field];
      if (Array.isArray(inner)) {
        if (inner.length === 0) out[field] = [d.value];
        else {
          const copy = [...inner];
          const i = d.inner % copy.length;
          copy[i] = isPlainObject(copy[i])
            ? damage(copy[i], { op: "deep", field: d.inner, inner: d.inner >>> 3, value: d.value })
            : d.value;
          out[field] = copy;
        }
      } else if (isPlainObject(inner)) {
        out[field] = damage(inner, { op: "set", field: d.inner, value: d.value });
      } else out[field] = d.value;
      return out;
    }
  }
}

/** A peer message envelope, valid or nearly so. */
export interface Envelope {
  v?: unknown;
  t?: unknown;
  id?: unknown;
  b?: unknown;
  code?: unknown;
  msg?: unknown;
}

const TYPES = [...RPC_NAMES.map((n) => RPC[n].t), REPLY_TYPE, ERROR_TYPE];

const envelopeField = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: good, weight: 8 }, { arbitrary: hostileValue, weight: 1 });

/** Envelopes around valid and damaged request bodies, replies and errors. */
export const nearEnvelope: fc.Arbitrary<Envelope> = fc.oneof(
  {
    // a request of type t whose body is valid for some (maybe other) RPC, maybe damaged
    arbitrary: fc
      .tuple(
        validRequest,
        fc.option(fc.constantFrom(...TYPES), { freq: 4 }),
        fc.array(bodyDamage, { maxLength: 3 }),
        envelopeField(fc.constant(1)),
        envelopeField(u32),
      )
      .map(([req, t, damages, v, id]) => ({
        v,
        t: t ?? RPC[req.name].t,
        id,
        b: damages.reduce((b, d) => damage(b, d), req.body),
      })),
    weight: 8,
  },
  {
    arbitrary: rec<Envelope>({
      v: envelopeField(fc.constant(1)),
      t: envelopeField(fc.constantFrom(REPLY_TYPE, ERROR_TYPE)),
      id: envelopeField(u32),
      b: hostileValue,
      code: envelopeField(fc.string({ maxLength: 70 })),
      msg: envelopeField(fc.string({ maxLength: 1_100 })),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record(
      {
        v: fc.oneof(fc.constantFrom(0, 1, 2, "1"), hostileValue),
        t: fc.oneof(fc.constantFrom(...TYPES), fc.integer({ min: -1, max: 700 }), hostileValue),
        id: fc.oneof(u32, fc.constantFrom(-1, 2 ** 32, 0.5), hostileValue),
        b: hostileValue,
        code: hostileValue,
        msg: hostileValue,
      },
      { requiredKeys: [] },
    ),
    weight: 2,
  },
);

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** MessagePack of `value`, or of a marker string when msgpackr cannot pack it. */
export function packAny(value: unknown): Buffer {
  try {
    return packr.pack(value);
  } catch {
    return packr.pack("unpackable");
  }
}

/** A frame with a correct length and checksum around any payload. */
export function framePayload(payload: Buffer): Buffer {
  const head = Buffer.allocUnsafe(PEER_FRAME_HEADER_BYTES);
  head.writeUInt32BE(payload.length >>> 0, 0);
  head.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
}

/** Bytes shaped like MessagePack: type prefixes (maps, arrays, strings, ext, numbers) and random tails. */
export const msgpackish: fc.Arbitrary<Buffer> = fc
  .array(
    fc.oneof(
      fc.tuple(fc.integer({ min: 0x80, max: 0x9f }), bytes(0, 6)),
      fc.tuple(fc.integer({ min: 0xa0, max: 0xbf }), bytes(0, 6)),
      fc.tuple(fc.integer({ min: 0xc0, max: 0xdf }), bytes(0, 10)),
      fc.tuple(fc.constantFrom(0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8), bytes(0, 12)),
      fc.tuple(
        fc.constantFrom(0xdc, 0xdd, 0xde, 0xdf, 0xc6, 0xdb),
        fc.constantFrom(
          Buffer.from([0xff, 0xff, 0xff, 0xff]),
          Buffer.from([0x7f, 0xff, 0xff, 0xff]),
          Buffer.from([0x00, 0x40, 0x00, 0x00]),
          Buffer.from([0xff, 0xff]),
        ),
      ),
      fc.tuple(fc.nat(0x7f), fc.constant(Buffer.alloc(0))),
      fc.tuple(fc.integer({ min: 0xe0, max: 0xff }), fc.constant(Buffer.alloc(0))),
    ),
    { maxLength: 12 },
  )
  .map((tokens) => Buffer.concat(tokens.flatMap(([tag, tail]) => [Buffer.from([tag]), tail])));

const peerHeaderFields = [
  rec({
    op: fc.constant("u32" as const),
    at: fc.constant(0),
    value: fc.oneof(
      fc.constantFrom(0, 1, 7, PEER_MAX_PAYLOAD_BYTES, PEER_MAX_PAYLOAD_BYTES + 1, 2 ** 32 - 1),
      fc.nat(300),
      u32,
    ),
  }),
  rec({ op: fc.constant("u32" as const), at: fc.constant(4), value: u32 }),
];
const peerMutation = mutation(peerHeaderFields);

/** One piece of a peer byte stream. */
export type PeerPart =
  | { kind: "request"; id: number; name: RpcName; body: unknown }
  | { kind: "reply"; id: number; body: unknown }
  | { kind: "error"; id: number; code: string; msg: string }
  | { kind: "envelope"; envelope: Envelope }
  | { kind: "msgpack"; payload: Buffer }
  | { kind: "mutated"; of: PeerPart; mutations: Mutation[]; fixChecksum: boolean }
  | { kind: "big"; length: number; claimed: number }
  | { kind: "garbage"; bytes: Buffer };

const plainPeerPart: fc.Arbitrary<PeerPart> = fc.oneof(
  {
    arbitrary: fc
      .tuple(u32, validRequest)
      .map(([id, r]) => ({ kind: "request" as const, id, name: r.name, body: r.body })),
    weight: 4,
  },
  {
    arbitrary: rec({
      kind: fc.constant("reply" as const),
      id: u32,
      body: fc.oneof(
        validRequest.map((r) => r.body),
        hostileValue,
      ),
    }),
    weight: 1,
  },
  {
    arbitrary: rec({
      kind: fc.constant("error" as const),
      id: u32,
      code: fc.string({ maxLength: 80 }),
      msg: fc.string({ maxLength: 1_200 }),
    }),
    weight: 1,
  },
  { arbitrary: rec({ kind: fc.constant("envelope" as const), envelope: nearEnvelope }), weight: 8 },
  {
    arbitrary: rec({
      kind: fc.constant("msgpack" as const),
      payload: fc.oneof(msgpackish, bytes(0, 100)),
    }),
    weight: 3,
  },
);

export const peerPart: fc.Arbitrary<PeerPart> = fc.oneof(
  { arbitrary: plainPeerPart, weight: 5000 },
  {
    arbitrary: rec({
      kind: fc.constant("mutated" as const),
      of: plainPeerPart,
      mutations: fc.array(peerMutation, { minLength: 1, maxLength: 3 }),
      fixChecksum: fc.boolean(),
    }) as fc.Arbitrary<PeerPart>,
    weight: 3000,
  },
  { arbitrary: rec({ kind: fc.constant("garbage" as const), bytes: bytes(0, 120) }), weight: 1000 },
  {
    // rare: payloads at and around the 4 MiB limit, announced honestly or not
    arbitrary: rec({
      kind: fc.constant("big" as const),
      length: fc.constantFrom(PEER_MAX_PAYLOAD_BYTES - 1, PEER_MAX_PAYLOAD_BYTES, 1 << 20),
      claimed: fc.constantFrom(-1, PEER_MAX_PAYLOAD_BYTES, PEER_MAX_PAYLOAD_BYTES + 1),
    }),
    weight: 1,
  },
);

export function peerPartBytes(part: PeerPart): Buffer {
  switch (part.kind) {
    case "request":
      return encodeRequest(part.id, part.name, part.body as never);
    case "reply":
      try {
        return encodeReply(part.id, part.body);
      } catch {
        return encodeReply(part.id, null);
      }
    case "error":
      return encodeError(part.id, part.code, part.msg);
    case "envelope":
      return framePayload(packAny(part.envelope));
    case "msgpack":
      return framePayload(part.payload);
    case "mutated": {
      let frame = peerPartBytes(part.of);
      for (const m of part.mutations) frame = mutate(frame, m);
      if (part.fixChecksum && frame.length >= PEER_FRAME_HEADER_BYTES) {
        frame = Buffer.from(frame);
        frame.writeUInt32BE(crc32(frame.subarray(PEER_FRAME_HEADER_BYTES)), 4);
      }
      return frame;
    }
    case "big": {
      const frame = framePayload(patterned(part.length, part.length & 0xff));
      if (part.claimed >= 0) frame.writeUInt32BE(part.claimed >>> 0, 0);
      return frame;
    }
    case "garbage":
      return part.bytes;
  }
}

/** A peer connection's input: parts of several kinds, cut into chunks. */
export interface PeerCase {
  parts: PeerPart[];
  cuts: Cuts;
}

export const peerCase: fc.Arbitrary<PeerCase> = rec({
  parts: fc.array(peerPart, { minLength: 1, maxLength: 6 }),
  cuts,
});

// --- hostile requests for the handler fuzzer -------------------------------------

/** What the hostile peer knows: the members' addresses and where it sends from. */
export interface HostileWorld {
  members: readonly string[];
  /** Never served: calls to them are refused. */
  unknown: readonly string[];
  hostile: string;
  /** The clock's epoch: deadlines and versions near "now" are drawn around it. */
  epochMs: number;
  /** Keys the hostile peer never writes (the control PUT/GET). */
  reservedKeys: readonly Buffer[];
}

/** One request of the hostile peer: to member `to`, after `gapMs` of simulated time. */
export interface HostileRequest {
  to: number;
  gapMs: number;
  name: RpcName;
  body: unknown;
}

const idBytes = (addr: string): Buffer => Buffer.from(nodeIdOf(addr), "hex");
const plusOne = (b: Buffer, delta: 1 | -1): Buffer => {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    const v = out[i]! + delta;
    out[i] = v & 0xff;
    if (v >= 0 && v <= 0xff) break;
  }
  return out;
};

/** Schema-valid requests of every type (or of `names`), aimed at the ring from a peer that is not in it. */
export function hostileRequests(
  world: HostileWorld,
  opts: { names?: readonly RpcName[]; maxGapMs?: number } = {},
): fc.Arbitrary<HostileRequest> {
  const addr = fc.oneof(
    { arbitrary: fc.constantFrom(...world.members), weight: 4 },
    { arbitrary: fc.constant(world.hostile), weight: 1 },
    { arbitrary: fc.constantFrom(...world.unknown), weight: 3 },
    { arbitrary: anyAddr, weight: 1 },
    {
      arbitrary: fc.constantFrom("localhost:0", "a:99999", `${"h".repeat(294)}:65535`, "[::]:1"),
      weight: 1,
    },
  );
  const reserved = new Set(world.reservedKeys.map((k) => k.toString("hex")));
  const key = fc
    .oneof(
      {
        arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b)),
        weight: 6,
      },
      { arbitrary: fc.constantFrom(Buffer.alloc(32, 0), Buffer.alloc(32, 0xff)), weight: 1 },
      {
        arbitrary: fc
          .integer({ min: 0, max: 40 })
          .map((i) => Buffer.from(`fuzz key ${i}`.padEnd(32, "."))),
        weight: 3,
      },
    )
    .filter((k) => !reserved.has(k.toString("hex")));
  const ids = world.members.flatMap((m) => {
    const id = idBytes(m);
    return [id, plusOne(id, 1), plusOne(id, -1)];
  });
  const pos = fc.oneof(
    { arbitrary: fc.constantFrom(...ids), weight: 3 },
    {
      arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b)),
      weight: 2,
    },
    { arbitrary: fc.constantFrom(Buffer.alloc(32, 0), Buffer.alloc(32, 0xff)), weight: 1 },
  );
  const nearNow = fc.integer({ min: -600_000, max: 600_000 }).map((d) => world.epochMs + d);
  const version = fc.oneof(
    wireNumber,
    nearNow.map((ms) => ms * 1000),
    fc.constantFrom(0, 1),
  );
  const deadline = fc.oneof(wireNumber, nearNow, fc.constantFrom(0, world.epochMs));
  const bodies = requestBodies({ addr, key, pos, version, deadline, maxEntries: 24 });
  const maxGap = opts.maxGapMs ?? 3000;
  const gapMs = fc.oneof(
    { arbitrary: fc.constant(0), weight: 4 },
    { arbitrary: fc.integer({ min: 1, max: Math.min(50, maxGap) }), weight: 3 },
    { arbitrary: fc.integer({ min: 1, max: maxGap }), weight: 1 },
  );
  return fc.oneof(
    ...(opts.names ?? NODE_RPC_NAMES).map((name) =>
      rec<HostileRequest>({
        to: fc.nat(world.members.length - 1),
        gapMs,
        name: fc.constant(name),
        body: bodies[name] as fc.Arbitrary<unknown>,
      }),
    ),
  );
}
