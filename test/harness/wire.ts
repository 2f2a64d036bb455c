// DHT API messages built byte by byte from the API's layout (docs/api.md), independent of
// src/wire, so the tests check the node against the spec rather than against
// its own codec.

export const ApiTypes = {
  Put: 650,
  Get: 651,
  Success: 652,
  Failure: 653,
  Shutdown: 654,
} as const;

export const KEY_BYTES = 32;
export const MAX_VALUE_BYTES = 65_495;

/** A 32-byte key: the label's UTF-8 bytes, zero padded (low entropy on purpose). */
export function keyOf(label: string): Buffer {
  const text = Buffer.from(label, "utf8");
  if (text.length > KEY_BYTES) throw new RangeError(`key label too long: ${label}`);
  const key = Buffer.alloc(KEY_BYTES);
  text.copy(key);
  return key;
}

/** A header followed by `bodyBytes` bytes of `fill` (for well- and malformed messages). */
export function rawMessage(size: number, type: number, bodyBytes: number, fill = 0): Buffer {
  const buf = Buffer.alloc(4 + bodyBytes, fill);
  buf.writeUInt16BE(size, 0);
  buf.writeUInt16BE(type, 2);
  return buf;
}

export function putMsg(key: Buffer, value: Buffer, ttl = 0, replication = 0): Buffer {
  if (key.length !== KEY_BYTES) throw new RangeError("key must be 32 bytes");
  const buf = Buffer.alloc(40 + value.length);
  buf.writeUInt16BE(40 + value.length, 0);
  buf.writeUInt16BE(ApiTypes.Put, 2);
  buf.writeUInt16BE(ttl, 4);
  buf.writeUInt8(replication, 6);
  buf.writeUInt8(0, 7);
  key.copy(buf, 8);
  value.copy(buf, 40);
  return buf;
}

export function getMsg(key: Buffer): Buffer {
  if (key.length !== KEY_BYTES) throw new RangeError("key must be 32 bytes");
  const buf = Buffer.alloc(36);
  buf.writeUInt16BE(36, 0);
  buf.writeUInt16BE(ApiTypes.Get, 2);
  key.copy(buf, 4);
  return buf;
}

export const SHUTDOWN_MSG = Buffer.from([0x00, 0x04, 0x02, 0x8e]);

/** One frame the node sent, as read off the wire. */
export interface Reply {
  size: number;
  type: number;
  key: Buffer;
  value: Buffer;
}

/** Splits node-to-client bytes into frames; returns them and the unparsed rest. */
export function parseReplies(bytes: Buffer): { replies: Reply[]; rest: Buffer } {
  const replies: Reply[] = [];
  let offset = 0;
  while (bytes.length - offset >= 4) {
    const size = bytes.readUInt16BE(offset);
    const type = bytes.readUInt16BE(offset + 2);
    if (size < 36) throw new Error(`node sent a frame of size ${size} (type ${type})`);
    if (bytes.length - offset < size) break;
    const frame = bytes.subarray(offset, offset + size);
    replies.push({
      size,
      type,
      key: Buffer.from(frame.subarray(4, 36)),
      value: Buffer.from(frame.subarray(36)),
    });
    offset += size;
  }
  return { replies, rest: bytes.subarray(offset) };
}

/** Replies grouped by key (latin1 string of the 32 bytes). */
export function byKey(replies: readonly Reply[]): Map<string, Reply[]> {
  const map = new Map<string, Reply[]>();
  for (const r of replies) {
    const id = r.key.toString("latin1");
    const list = map.get(id);
    if (list === undefined) map.set(id, [r]);
    else list.push(r);
  }
  return map;
}
