// Fuzz targets (a) and (b): the API decoder (FrameDecoder + decodeApi) and the
// peer decoder (PeerFrameDecoder + decodePayload + checkReply). Each check
// takes one generated case and throws FuzzFailure when the code under test
// misbehaves:
// - it throws anything but its protocol error (ApiProtocolError,
//   PeerProtocolError), or a valid-looking result is not valid;
// - fed the same bytes in other chunks (and, for the API, with reading paused
//   and resumed the way the API server does), it decodes other frames or fails
//   elsewhere than a whole-stream reference parse;
// - after any push it holds more than one maximum frame of partial input;
// - it pollutes Object.prototype.

import { isDeepStrictEqual } from "node:util";
import { crc32 } from "node:zlib";
import fc from "fast-check";
import {
  API_HEADER_BYTES,
  API_KEY_BYTES,
  API_MAX_MESSAGE_BYTES,
  type ApiMessage,
  ApiProtocolError,
  decodeApi,
  encodeApi,
  headerProblem,
  type Sender,
} from "../../src/wire/api.js";
import { FrameDecoder } from "../../src/wire/frame-decoder.js";
import {
  checkReply,
  decodePayload,
  encodeReply,
  encodeRequest,
  PEER_FRAME_HEADER_BYTES,
  PEER_MAX_PAYLOAD_BYTES,
  PeerFrameDecoder,
  type PeerMessage,
  PeerProtocolError,
  RPC,
} from "../../src/wire/peer.js";
import {
  type ApiCase,
  apiCase,
  apiPartBytes,
  type PeerCase,
  peerCase,
  peerPartBytes,
  RPC_NAMES,
  splitAt,
} from "./arbitraries.js";

/** The code under test broke a fuzzing property (as opposed to rejecting bad input). */
export class FuzzFailure extends Error {
  override readonly name = "FuzzFailure";
}

export const describeError = (err: unknown): string =>
  err instanceof Error ? `${err.name}: ${err.message}` : `non-Error ${String(err)}`;

function fail(why: string): never {
  throw new FuzzFailure(why);
}

/** Object.prototype gained a property: a decoded key reached a prototype. */
export function checkPrototypes(): void {
  const polluted = Object.getOwnPropertyNames(Object.prototype).filter((k) => !PROTO_KEYS.has(k));
  if (polluted.length > 0) fail(`Object.prototype polluted: ${polluted.join(", ")}`);
}
const PROTO_KEYS = new Set(Object.getOwnPropertyNames(Object.prototype));

export interface DecoderStats {
  cases: number;
  bytes: number;
  /** Whole frames the incremental decoder delivered. */
  frames: number;
  /** Frames or payloads that decoded to a valid message. */
  valid: number;
  /** Protocol errors thrown (decoder or message decoding). */
  rejected: number;
  /** Largest `buffered` seen after a push. */
  maxBuffered: number;
}

export const newDecoderStats = (): DecoderStats => ({
  cases: 0,
  bytes: 0,
  frames: 0,
  valid: 0,
  rejected: 0,
  maxBuffered: 0,
});

// --- (a) the API ---------------------------------------------------------------------

interface Reference {
  frames: Buffer[];
  /** The stream breaks the protocol at the header after the last frame. */
  error: boolean;
  /** Bytes of whole frames. */
  consumed: number;
}

/** The whole stream at once, by the spec: header rules first, then whole frames. */
function referenceApi(stream: Buffer, sender: Sender): Reference {
  const frames: Buffer[] = [];
  let off = 0;
  while (stream.length - off >= API_HEADER_BYTES) {
    const size = stream.readUInt16BE(off);
    if (headerProblem(size, stream.readUInt16BE(off + 2), sender) !== undefined) {
      return { frames, error: true, consumed: off };
    }
    if (stream.length - off < size) break;
    frames.push(stream.subarray(off, off + size));
    off += size;
  }
  return { frames, error: false, consumed: off };
}

const SENDER_TYPES: Record<Sender, ApiMessage["type"][]> = {
  client: ["put", "get", "shutdown"],
  node: ["success", "failure"],
};

/** A decoded message is well formed for `sender` and re-encodes to `frame` (reserved byte zero). */
function checkApiMessage(msg: ApiMessage, frame: Buffer, sender: Sender): void {
  if (!SENDER_TYPES[sender].includes(msg.type)) fail(`${sender} decoded a ${msg.type}`);
  if ("key" in msg && msg.key.length !== API_KEY_BYTES) fail(`key of ${msg.key.length} bytes`);
  if ("value" in msg && msg.value.length < 1) fail("empty value");
  if (msg.type === "put") {
    const ok = (n: number, max: number) => Number.isInteger(n) && n >= 0 && n <= max;
    if (!ok(msg.ttl, 0xffff) || !ok(msg.replication, 0xff)) fail("ttl/replication out of range");
  }
  let again: Buffer;
  try {
    again = encodeApi(msg);
  } catch (err) {
    fail(`a decoded ${msg.type} does not encode: ${describeError(err)}`);
  }
  const expected = Buffer.from(frame);
  if (msg.type === "put") expected[7] = 0;
  if (!again.equals(expected)) fail(`${msg.type} does not re-encode to its frame`);
}

/** decodeApi on any bytes: a valid message or ApiProtocolError. */
function decodeApiFrame(frame: Buffer, sender: Sender, stats: DecoderStats): void {
  let msg: ApiMessage;
  try {
    msg = decodeApi(frame, sender);
  } catch (err) {
    if (!(err instanceof ApiProtocolError)) fail(`decodeApi threw ${describeError(err)}`);
    stats.rejected++;
    return;
  }
  checkApiMessage(msg, frame, sender);
  stats.valid++;
}

export function checkApiCase(c: ApiCase, stats: DecoderStats = newDecoderStats()): void {
  const parts = c.parts.map(apiPartBytes);
  const stream = Buffer.concat(parts);
  stats.cases++;
  stats.bytes += stream.length;
  for (const part of parts) {
    decodeApiFrame(part, "client", stats);
    decodeApiFrame(part, "node", stats);
  }
  const ref = referenceApi(stream, c.sender);
  const decoder = new FrameDecoder(c.sender);
  const got: Buffer[] = [];
  const onFrame = (frame: Buffer): boolean => {
    const i = got.push(Buffer.from(frame)) - 1;
    return !(c.pauses.length > 0 && c.pauses[i % c.pauses.length]!);
  };
  let threw = false;
  try {
    for (const chunk of splitAt(stream, c.cuts)) {
      // As the API server does: a paused decoder hands back the rest, pushed again on resume.
      let rest: Buffer | undefined = chunk;
      while (rest !== undefined) {
        const before: number = rest.length;
        rest = decoder.push(rest, onFrame);
        if (rest !== undefined && rest.length >= before) fail("push returned a rest no shorter");
        if (decoder.buffered > API_MAX_MESSAGE_BYTES) fail(`buffered ${decoder.buffered} bytes`);
        stats.maxBuffered = Math.max(stats.maxBuffered, decoder.buffered);
      }
    }
  } catch (err) {
    if (err instanceof FuzzFailure) throw err;
    if (!(err instanceof ApiProtocolError)) fail(`FrameDecoder threw ${describeError(err)}`);
    threw = true;
    stats.rejected++;
  }
  if (threw !== ref.error) fail(`decoder ${threw ? "threw" : "accepted"}; the reference did not`);
  if (got.length !== ref.frames.length || got.some((f, i) => !f.equals(ref.frames[i]!))) {
    fail(`decoder delivered ${got.length} frames, the reference ${ref.frames.length}`);
  }
  if (!threw && decoder.buffered !== stream.length - ref.consumed) {
    fail(`buffered ${decoder.buffered}, expected ${stream.length - ref.consumed}`);
  }
  stats.frames += got.length;
  for (const frame of got) decodeApiFrame(frame, c.sender, stats);
  checkPrototypes();
}

export const apiDecoderProperty = (stats?: DecoderStats) =>
  fc.property(apiCase, (c) => checkApiCase(c, stats));

// --- (b) the peer protocol -------------------------------------------------------------

function referencePeer(stream: Buffer): Reference {
  const frames: Buffer[] = [];
  let off = 0;
  while (stream.length - off >= PEER_FRAME_HEADER_BYTES) {
    const length = stream.readUInt32BE(off);
    if (length > PEER_MAX_PAYLOAD_BYTES) return { frames, error: true, consumed: off };
    if (stream.length - off < PEER_FRAME_HEADER_BYTES + length) break;
    const payload = stream.subarray(off + PEER_FRAME_HEADER_BYTES, off + 8 + length);
    if (crc32(payload) !== stream.readUInt32BE(off + 4)) {
      return { frames, error: true, consumed: off };
    }
    frames.push(payload);
    off += PEER_FRAME_HEADER_BYTES + length;
  }
  return { frames, error: false, consumed: off };
}

const isU32 = (n: unknown): boolean =>
  typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 2 ** 32 - 1;

/** A decoded message is well formed, and a request or reply encodes again. */
function checkPeerMessage(msg: PeerMessage): void {
  if (!isU32(msg.id)) fail(`message id ${String(msg.id)}`);
  switch (msg.kind) {
    case "request": {
      if (!(msg.name in RPC)) fail(`unknown request name ${msg.name}`);
      let again: PeerMessage;
      try {
        const frame = encodeRequest(msg.id, msg.name, msg.body as never);
        again = decodePayload(frame.subarray(PEER_FRAME_HEADER_BYTES));
      } catch (err) {
        fail(`a decoded ${msg.name} request does not round-trip: ${describeError(err)}`);
      }
      if (!isDeepStrictEqual(normalize(again), normalize(msg))) {
        fail(`a decoded ${msg.name} request changes when encoded again`);
      }
      return;
    }
    case "reply":
      // A reply's body is checked against the RPC of the call it answers: try three.
      for (const name of [0, 5, 9].map((k) => RPC_NAMES[(msg.id + k) % RPC_NAMES.length]!)) {
        try {
          encodeReply(msg.id, checkReply(name, msg.body));
        } catch (err) {
          if (!(err instanceof PeerProtocolError)) {
            fail(`checkReply(${name}) threw ${describeError(err)}`);
          }
        }
      }
      return;
    case "error":
      if (typeof msg.code !== "string" || msg.code.length > 64) fail("error code");
      if (typeof msg.msg !== "string" || msg.msg.length > 1000) fail("error text");
      return;
    default:
      fail(`unknown message kind ${(msg as { kind: unknown }).kind}`);
  }
}

/** -0 and 0 are one number on the wire (MessagePack writes -0 as 0). */
function normalize(v: unknown): unknown {
  if (Object.is(v, -0)) return 0;
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === "object" && v !== null && !Buffer.isBuffer(v)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  }
  return v;
}

function decodePeerPayload(payload: Buffer, stats: DecoderStats): void {
  let msg: PeerMessage;
  try {
    msg = decodePayload(payload);
  } catch (err) {
    if (!(err instanceof PeerProtocolError)) fail(`decodePayload threw ${describeError(err)}`);
    stats.rejected++;
    return;
  }
  checkPeerMessage(msg);
  stats.valid++;
}

export function checkPeerCase(c: PeerCase, stats: DecoderStats = newDecoderStats()): void {
  const parts = c.parts.map(peerPartBytes);
  const stream = Buffer.concat(parts);
  stats.cases++;
  stats.bytes += stream.length;
  const ref = referencePeer(stream);
  const decoder = new PeerFrameDecoder();
  const got: Buffer[] = [];
  let threw = false;
  try {
    for (const chunk of splitAt(stream, c.cuts)) {
      decoder.push(chunk, (payload) => got.push(Buffer.from(payload)));
      const bound = PEER_FRAME_HEADER_BYTES + PEER_MAX_PAYLOAD_BYTES;
      if (decoder.buffered >= bound) fail(`buffered ${decoder.buffered} bytes`);
      stats.maxBuffered = Math.max(stats.maxBuffered, decoder.buffered);
    }
  } catch (err) {
    if (err instanceof FuzzFailure) throw err;
    if (!(err instanceof PeerProtocolError)) fail(`PeerFrameDecoder threw ${describeError(err)}`);
    threw = true;
    stats.rejected++;
  }
  if (threw !== ref.error) fail(`decoder ${threw ? "threw" : "accepted"}; the reference did not`);
  if (got.length !== ref.frames.length || got.some((f, i) => !f.equals(ref.frames[i]!))) {
    fail(`decoder delivered ${got.length} payloads, the reference ${ref.frames.length}`);
  }
  if (!threw && decoder.buffered !== stream.length - ref.consumed) {
    fail(`buffered ${decoder.buffered}, expected ${stream.length - ref.consumed}`);
  }
  stats.frames += got.length;
  for (const payload of got) decodePeerPayload(payload, stats);
  checkPrototypes();
}

export const peerDecoderProperty = (stats?: DecoderStats) =>
  fc.property(peerCase, (c) => checkPeerCase(c, stats));
