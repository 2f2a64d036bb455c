// The peer protocol (docs/protocol.md): typed, versioned RPC messages between
// nodes. Payloads are MessagePack (msgpackr); every frame carries a CRC-32 of
// its payload; every payload is validated against a TypeBox schema on
// receipt. Pure: bytes <-> typed messages, no sockets.
//
// Frame:    u32 payload length | u32 CRC-32 of payload | payload (MessagePack)
// Request:  { v: 1, t: <rpc type>, id: <request id>, b: <request body> }
// Reply:    { v: 1, t: 0, id, b: <reply body> }
// Error:    { v: 1, t: 15, id, code, msg }
// Types stay out of the API's 650-679 range.

import { crc32 } from "node:zlib";
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { Packr } from "msgpackr";

export const PEER_PROTOCOL_VERSION = 2;
export const PEER_FRAME_HEADER_BYTES = 8;
/** Largest payload a node accepts; bulk transfers are batched below it. */
export const PEER_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;
/** Largest number of entries in one storeReplicas batch. */
export const PEER_MAX_BATCH_ENTRIES = 4096;
export const PEER_MAX_SUCCESSORS = 32;
/** Recent graceful leaves a GetNeighbours reply passes on, at most. */
export const PEER_MAX_LEFT = 16;

export const REPLY_TYPE = 0;
export const ERROR_TYPE = 15;

const Buf = (min: number, max: number) =>
  Type.Unsafe<Buffer>(Type.Uint8Array({ minByteLength: min, maxByteLength: max }));
/** A peer's P2P address, "host:port" (IPv6 in brackets). */
const Addr = Type.String({
  minLength: 3,
  maxLength: 300,
  pattern: "^(\\[[0-9A-Fa-f:.]+\\]|[^:\\[\\]\\s]+):\\d{1,5}$",
});
const Key = Buf(32, 32);
const Ticket = Buf(16, 16);
const Succs = Type.Array(Addr, { maxItems: PEER_MAX_SUCCESSORS });
export const WireRecord = Type.Object({
  value: Buf(1, 65_495),
  version: Type.Number({ minimum: 0 }),
  deadline: Type.Number({ minimum: 0 }),
  replication: Type.Integer({ minimum: 1, maximum: 255 }),
});
const Entry = Type.Object({ key: Key, rec: WireRecord });
const Empty = Type.Object({});
const U32 = Type.Integer({ minimum: 0, maximum: 2 ** 32 - 1 });
/** Anti-entropy: hashed buckets per range (store/summary.ts). */
export const SYNC_BUCKETS = 64;
const KeyVersion = Type.Object({ key: Key, version: Type.Number({ minimum: 0 }), digest: U32 });

/** Every RPC: its type number, request body and reply body. */
export const RPC = {
  /** Liveness check (predecessor check, failure detection). */
  ping: { t: 1, req: Empty, res: Empty },
  /** Resolve the node responsible for ring position `pos`, recursively. */
  getNode: {
    t: 2,
    req: Type.Object({ pos: Key, hops: Type.Integer({ minimum: 0, maximum: 255 }) }),
    res: Type.Object({
      node: Addr,
      succs: Succs,
      hops: Type.Integer({ minimum: 0, maximum: 255 }),
    }),
  },
  /**
   * Stabilization: the callee's predecessor and successor list; `http`: the callee's
   * admin endpoint, if it serves one (`ringdht ring` walks the ring through it).
   */
  getNeighbours: {
    t: 3,
    /** `fromPred`: the caller stabilizes with the callee as its successor (so it names it). */
    req: Type.Object({ fromPred: Type.Optional(Type.Boolean()) }),
    res: Type.Object({
      pred: Type.Union([Addr, Type.Null()]),
      succs: Succs,
      http: Type.Optional(Addr),
      /** Peers that announced a graceful leave to the callee lately (checked before acted on). */
      left: Type.Optional(Type.Array(Addr, { maxItems: PEER_MAX_LEFT })),
    }),
  },
  /** "I might be your predecessor" (Chord's notify / Zave's rectify); the caller is the subject. */
  notify: { t: 4, req: Empty, res: Empty },
  /**
   * Read a value from the node that holds it (no forwarding); `owner`: whether the callee
   * owns the key; `fresh` false: the callee is catching up after a pause or a partition;
   * `succs`: the owner's successor list (the rest of the replica set).
   */
  getValue: {
    t: 5,
    req: Type.Object({ key: Key }),
    res: Type.Object({
      rec: Type.Union([WireRecord, Type.Null()]),
      owner: Type.Boolean(),
      fresh: Type.Optional(Type.Boolean()),
      succs: Type.Optional(Succs),
    }),
  },
  /**
   * Store at the responsible node, which replicates to its successors. A callee that does
   * not own the key (or is not fresh) stores nothing and says so; `strict` is ignored
   * (always strict; kept for older senders).
   */
  insertValue: {
    t: 6,
    req: Type.Object({ key: Key, rec: WireRecord, strict: Type.Optional(Type.Boolean()) }),
    res: Type.Object({ stored: Type.Boolean(), owner: Type.Boolean() }),
  },
  /**
   * Bulk copy: replication, repair, handover on join and leave. `refused`: entries the
   * callee's rules refused (chord/record-rules.ts); absent means none.
   */
  storeReplicas: {
    t: 7,
    req: Type.Object({ entries: Type.Array(Entry, { maxItems: PEER_MAX_BATCH_ENTRIES }) }),
    res: Type.Object({
      stored: Type.Integer({ minimum: 0 }),
      refused: Type.Optional(Type.Integer({ minimum: 0 })),
    }),
  },
  /** A joining node (the caller, admitted by proof-of-work) asks its successor for its new range. */
  splitNode: {
    t: 8,
    req: Empty,
    res: Type.Object({ sent: Type.Integer({ minimum: 0 }) }),
  },
  /** A leaving node (the caller) tells its neighbours whom to link to instead. */
  leaving: {
    t: 9,
    req: Type.Object({ pred: Type.Union([Addr, Type.Null()]), succs: Succs }),
    res: Empty,
  },
  /** A node that just joined tells its predecessor "I am your new successor" (checked before adopted). */
  newSuccessor: { t: 10, req: Empty, res: Empty },
  /**
   * Anti-entropy, step 1: the owner of (lo, hi] sends its summary of the records there
   * (hash and count of those whose replication reaches the callee); the callee answers
   * whether its own summary matches, and if not its per-bucket hashes.
   */
  syncRange: {
    t: 11,
    req: Type.Object({
      lo: Key,
      hi: Key,
      minReplication: Type.Integer({ minimum: 1, maximum: 255 }),
      root: U32,
      count: U32,
    }),
    res: Type.Object({
      match: Type.Boolean(),
      count: U32,
      buckets: Type.Array(U32, { maxItems: SYNC_BUCKETS }),
    }),
  },
  /**
   * Anti-entropy, step 2: the owner lists (key, version) of its records in the buckets
   * that differ; the callee returns the records it holds newer or the owner lacks
   * (`give`), and the keys it wants (`want`). `more`: the callee cut `give` short.
   */
  syncBuckets: {
    t: 12,
    req: Type.Object({
      lo: Key,
      hi: Key,
      minReplication: Type.Integer({ minimum: 1, maximum: 255 }),
      buckets: Type.Array(Type.Integer({ minimum: 0, maximum: SYNC_BUCKETS - 1 }), {
        maxItems: SYNC_BUCKETS,
      }),
      have: Type.Array(KeyVersion, { maxItems: PEER_MAX_BATCH_ENTRIES }),
    }),
    res: Type.Object({
      give: Type.Array(Entry, { maxItems: PEER_MAX_BATCH_ENTRIES }),
      want: Type.Array(Key, { maxItems: PEER_MAX_BATCH_ENTRIES }),
      more: Type.Boolean(),
    }),
  },
  /** Ring unification: "this live node may belong between you and your neighbours". */
  mergeHint: { t: 13, req: Type.Object({ node: Addr }), res: Empty },
  /**
   * Address validation, the first request on every connection: "I listen on `port` of the
   * address I connect from". The callee proves it by sending `ticket` back to that address
   * (prove); until then it handles nothing else from this connection but prove.
   * The reply names the address the callee now knows the caller by.
   */
  hello: {
    t: 14,
    req: Type.Object({ port: Type.Integer({ minimum: 1, maximum: 65_535 }), ticket: Ticket }),
    res: Type.Object({ seenAs: Addr }),
  },
  /** "Did you send this ticket in a hello?": answered at once, on any connection. */
  prove: {
    t: 16,
    req: Type.Object({ ticket: Ticket }),
    res: Type.Object({ mine: Type.Boolean() }),
  },
  /** Admission, step 1: a fresh proof-of-work challenge for the caller's address. */
  admitChallenge: {
    t: 17,
    req: Empty,
    res: Type.Object({ challenge: Buf(16, 64), bits: Type.Integer({ minimum: 0, maximum: 64 }) }),
  },
  /** Admission, step 2: the solution; the caller may then become the callee's predecessor. */
  admit: {
    t: 18,
    req: Type.Object({ challenge: Buf(16, 64), solution: Buf(8, 8) }),
    res: Empty,
  },
} as const;

/** RPCs the transport answers itself (address validation); the rest go to the node's handlers. */
export const TRANSPORT_RPCS = ["hello", "prove"] as const;
export type TransportRpc = (typeof TRANSPORT_RPCS)[number];
export type NodeRpc = Exclude<RpcName, TransportRpc>;

export type RpcName = keyof typeof RPC;
export type RpcReq<K extends RpcName> = Static<(typeof RPC)[K]["req"]>;
export type RpcRes<K extends RpcName> = Static<(typeof RPC)[K]["res"]>;
export type WireRecord = Static<typeof WireRecord>;
export type WireEntry = Static<typeof Entry>;

const NAME_BY_TYPE = new Map<number, RpcName>(
  (Object.keys(RPC) as RpcName[]).map((name) => [RPC[name].t, name]),
);

const compile = <T extends TSchema>(schema: T) => TypeCompiler.Compile(schema);
const REQ_CHECK = new Map((Object.keys(RPC) as RpcName[]).map((n) => [n, compile(RPC[n].req)]));
const RES_CHECK = new Map((Object.keys(RPC) as RpcName[]).map((n) => [n, compile(RPC[n].res)]));
const ENVELOPE = compile(
  Type.Object({
    v: Type.Literal(PEER_PROTOCOL_VERSION),
    t: Type.Integer({ minimum: 0, maximum: 255 }),
    id: Type.Integer({ minimum: 0, maximum: 2 ** 32 - 1 }),
    b: Type.Optional(Type.Unknown()),
    code: Type.Optional(Type.String({ maxLength: 64 })),
    msg: Type.Optional(Type.String({ maxLength: 1000 })),
  }),
);

export type PeerMessage =
  | { kind: "request"; id: number; name: RpcName; body: unknown }
  | { kind: "reply"; id: number; body: unknown }
  | { kind: "error"; id: number; code: string; msg: string };

/** A frame or payload that breaks the protocol: the sender is disconnected. */
export class PeerProtocolError extends Error {
  override readonly name = "PeerProtocolError";
}

const packr = new Packr({ useRecords: false, copyBuffers: true, mapsAsObjects: true });

function frame(payload: Buffer): Buffer {
  if (payload.length > PEER_MAX_PAYLOAD_BYTES) {
    throw new RangeError(
      `peer payload of ${payload.length} bytes exceeds ${PEER_MAX_PAYLOAD_BYTES}`,
    );
  }
  const out = Buffer.allocUnsafe(PEER_FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32(payload), 4);
  payload.copy(out, PEER_FRAME_HEADER_BYTES);
  return out;
}

export function encodeRequest<K extends RpcName>(id: number, name: K, body: RpcReq<K>): Buffer {
  return frame(packr.pack({ v: PEER_PROTOCOL_VERSION, t: RPC[name].t, id, b: body }));
}

export function encodeReply(id: number, body: unknown): Buffer {
  return frame(packr.pack({ v: PEER_PROTOCOL_VERSION, t: REPLY_TYPE, id, b: body }));
}

export function encodeError(id: number, code: string, msg: string): Buffer {
  return frame(
    packr.pack({
      v: PEER_PROTOCOL_VERSION,
      t: ERROR_TYPE,
      id,
      code: code.slice(0, 64),
      msg: msg.slice(0, 1000),
    }),
  );
}

/** Decodes and validates one payload (frame header already checked). */
export function decodePayload(payload: Buffer): PeerMessage {
  let raw: unknown;
  try {
    raw = packr.unpack(payload);
  } catch (err) {
    throw new PeerProtocolError(`payload is not MessagePack: ${(err as Error).message}`);
  }
  if (!ENVELOPE.Check(raw)) throw new PeerProtocolError("payload is not a peer message envelope");
  if (raw.t === REPLY_TYPE) return { kind: "reply", id: raw.id, body: raw.b };
  if (raw.t === ERROR_TYPE)
    return { kind: "error", id: raw.id, code: raw.code ?? "error", msg: raw.msg ?? "" };
  const name = NAME_BY_TYPE.get(raw.t);
  if (name === undefined) throw new PeerProtocolError(`unknown peer message type ${raw.t}`);
  if (!REQ_CHECK.get(name)!.Check(raw.b)) throw new PeerProtocolError(`malformed ${name} request`);
  return { kind: "request", id: raw.id, name, body: raw.b };
}

/** Validates a reply body against the schema of the request it answers. */
export function checkReply<K extends RpcName>(name: K, body: unknown): RpcRes<K> {
  if (!RES_CHECK.get(name)!.Check(body)) throw new PeerProtocolError(`malformed ${name} reply`);
  return body as RpcRes<K>;
}

/**
 * Incremental peer frame decoder: arbitrary chunks in, checked payloads out.
 * Rejects an oversized length before buffering and a CRC mismatch at once.
 */
export class PeerFrameDecoder {
  private chunks: Buffer[] = [];
  private held = 0;

  get buffered(): number {
    return this.held;
  }

  push(chunk: Buffer, onPayload: (payload: Buffer) => void): void {
    this.chunks.push(chunk);
    this.held += chunk.length;
    while (this.held >= PEER_FRAME_HEADER_BYTES) {
      const head = this.peek(PEER_FRAME_HEADER_BYTES);
      const length = head.readUInt32BE(0);
      if (length > PEER_MAX_PAYLOAD_BYTES) {
        throw new PeerProtocolError(`frame of ${length} bytes exceeds ${PEER_MAX_PAYLOAD_BYTES}`);
      }
      if (this.held < PEER_FRAME_HEADER_BYTES + length) return;
      const whole = this.take(PEER_FRAME_HEADER_BYTES + length);
      const payload = whole.subarray(PEER_FRAME_HEADER_BYTES);
      if (crc32(payload) !== whole.readUInt32BE(4))
        throw new PeerProtocolError("frame checksum mismatch");
      onPayload(payload);
    }
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    const first = this.peek(n);
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.held -= n;
    return out;
  }
}
