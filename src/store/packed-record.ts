// A stored record in compact form: one one-byte (latin1) string that holds the
// fixed fields and the value's bytes, behind getters. A record as a plain
// object costs far more than its value: a Buffer per value (its JS object, an
// ArrayBuffer and a separate allocation, or a share of an 8 KiB pool slab),
// boxed doubles for version and deadline, and a 64-character hex position.
// Layout: version f64 | deadline f64 | digest u32 | replication u8 | position
// (32 bytes) | value. Reading `value` or `pos` decodes a fresh copy; the
// numeric fields decode from the string's first bytes. Pure.

import type { Id } from "../ring/id.js";
import type { Versioned } from "./store.js";
import type { Summarizable } from "./summary.js";

/** What a record of the Chord node's store holds. */
export interface RecordFields extends Versioned, Summarizable {}

const VERSION_AT = 0;
const DEADLINE_AT = 8;
const DIGEST_AT = 16;
const REPLICATION_AT = 20;
const POS_AT = 21;
const POS_BYTES = 32;
/** Bytes of the fixed fields before the value. */
export const PACKED_HEADER_BYTES = POS_AT + POS_BYTES;

/** Scratch space for decoding fields (one thread, never held across calls). */
const scratch = Buffer.alloc(POS_BYTES);

function readDouble(s: string, at: number): number {
  for (let i = 0; i < 8; i++) scratch[i] = s.charCodeAt(at + i);
  return scratch.readDoubleLE(0);
}

export class PackedRecord implements RecordFields {
  private constructor(private readonly packed: string) {}

  static pack(rec: RecordFields): PackedRecord {
    const value = rec.value;
    const buf = Buffer.allocUnsafe(PACKED_HEADER_BYTES + value.length);
    buf.writeDoubleLE(rec.version, VERSION_AT);
    buf.writeDoubleLE(rec.deadline, DEADLINE_AT);
    buf.writeUInt32LE(rec.digest >>> 0, DIGEST_AT);
    buf.writeUInt8(rec.replication, REPLICATION_AT);
    if (buf.write(rec.pos, POS_AT, POS_BYTES, "hex") !== POS_BYTES) {
      throw new RangeError(`not a ring position: ${rec.pos}`);
    }
    value.copy(buf, PACKED_HEADER_BYTES);
    return new PackedRecord(buf.toString("latin1"));
  }

  get version(): number {
    return readDouble(this.packed, VERSION_AT);
  }

  get deadline(): number {
    return readDouble(this.packed, DEADLINE_AT);
  }

  get digest(): number {
    const s = this.packed;
    return (
      (s.charCodeAt(DIGEST_AT) |
        (s.charCodeAt(DIGEST_AT + 1) << 8) |
        (s.charCodeAt(DIGEST_AT + 2) << 16) |
        (s.charCodeAt(DIGEST_AT + 3) << 24)) >>>
      0
    );
  }

  get replication(): number {
    return this.packed.charCodeAt(REPLICATION_AT);
  }

  get pos(): Id {
    const s = this.packed;
    for (let i = 0; i < POS_BYTES; i++) scratch[i] = s.charCodeAt(POS_AT + i);
    return scratch.toString("hex", 0, POS_BYTES);
  }

  /** A copy of the value's bytes. */
  get value(): Buffer {
    return Buffer.from(this.packed.slice(PACKED_HEADER_BYTES), "latin1");
  }

  get valueLength(): number {
    return this.packed.length - PACKED_HEADER_BYTES;
  }
}
