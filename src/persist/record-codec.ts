// How one record is laid out on disk (persist/lmdb-records.ts): the key is the
// LMDB key (32 bytes); the value is
//   format u8 (= 1) | version f64 LE | deadline f64 LE | replication u8 | value bytes.
// Deadlines are absolute (ms since the epoch), so a record read back after any
// downtime expires when it would have. Pure.

import type { WireRecord } from "../wire/peer.js";

const FORMAT = 1;
const VERSION_AT = 1;
const DEADLINE_AT = 9;
const REPLICATION_AT = 17;
/** Bytes before the value. */
export const RECORD_HEADER_BYTES = 18;
const KEY_BYTES = 32;
const MAX_VALUE_BYTES = 65_495;

export function encodeRecord(rec: WireRecord): Buffer {
  const buf = Buffer.allocUnsafe(RECORD_HEADER_BYTES + rec.value.length);
  buf.writeUInt8(FORMAT, 0);
  buf.writeDoubleLE(rec.version, VERSION_AT);
  buf.writeDoubleLE(rec.deadline, DEADLINE_AT);
  buf.writeUInt8(rec.replication, REPLICATION_AT);
  rec.value.copy(buf, RECORD_HEADER_BYTES);
  return buf;
}

/** The record stored under `key`, or a reason why these bytes are not one. */
export function decodeRecord(key: Uint8Array, bytes: Uint8Array): WireRecord | string {
  if (key.length !== KEY_BYTES) return `a key of ${key.length} bytes, not ${KEY_BYTES}`;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length <= RECORD_HEADER_BYTES) return `${buf.length} bytes, too short for a record`;
  if (buf[0] !== FORMAT) return `unknown record format ${buf[0]}`;
  const version = buf.readDoubleLE(VERSION_AT);
  const deadline = buf.readDoubleLE(DEADLINE_AT);
  const replication = buf.readUInt8(REPLICATION_AT);
  const length = buf.length - RECORD_HEADER_BYTES;
  if (!(Number.isFinite(version) && version >= 0)) return `bad version ${version}`;
  if (!(Number.isFinite(deadline) && deadline >= 0)) return `bad deadline ${deadline}`;
  if (replication < 1) return "bad replication 0";
  if (length > MAX_VALUE_BYTES) return `a value of ${length} bytes`;
  // A copy: the database may reuse the buffer it read into.
  const value = Buffer.from(buf.subarray(RECORD_HEADER_BYTES));
  return { value, version, deadline, replication };
}
