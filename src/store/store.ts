// The key-value store of one node: key -> {value, version, deadline}. Pure: the
// caller passes `now` (ms since the epoch). Expiry is lazy on read plus a sweep
// over a deadline heap, so an idle store costs nothing (no timer per key).
// Writes are last-writer-wins by version; a byte quota bounds memory.

import type { KeyId } from "../wire/key.js";
import { DeadlineHeap } from "./deadline-heap.js";

export { type KeyId, keyBytes, keyId } from "../wire/key.js";

export interface Versioned {
  /** Owned by the store once stored: callers pass bytes nobody else mutates. */
  readonly value: Buffer;
  /** Larger is newer (see store/version.ts). */
  readonly version: number;
  /** Absolute expiry, ms since the epoch; live while now <= deadline. */
  readonly deadline: number;
  /** The value's length, where reading `value` copies it (store/packed-record.ts). */
  readonly valueLength?: number;
}

export type PutOutcome = "stored" | "same" | "stale" | "expired" | "empty" | "over-quota";

/** Bytes charged per entry beyond key and value: map slot, record, heap entry. */
export const ENTRY_OVERHEAD_BYTES = 128;
const KEY_BYTES = 32;

export const entryCost = (rec: Versioned): number =>
  KEY_BYTES + (rec.valueLength ?? rec.value.length) + ENTRY_OVERHEAD_BYTES;

/** True when `a` must replace `b`: higher version, or equal version and larger bytes. */
export function supersedes(a: Versioned, b: Versioned): boolean {
  if (a.version !== b.version) return a.version > b.version;
  return Buffer.compare(a.value, b.value) > 0;
}

export class Store<R extends Versioned = Versioned> {
  private readonly map = new Map<KeyId, R>();
  private readonly expiries = new DeadlineHeap();
  private used = 0;

  /** `onRemove`: told of every record that leaves the store (deleted, expired), not of replacements. */
  constructor(
    readonly quotaBytes: number,
    private readonly onRemove?: (id: KeyId) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** Bytes charged against the quota. */
  get bytes(): number {
    return this.used;
  }

  put(id: KeyId, rec: R, now: number): PutOutcome {
    if ((rec.valueLength ?? rec.value.length) === 0) return "empty";
    if (now > rec.deadline) return "expired";
    const old = this.get(id, now);
    if (old !== undefined && !supersedes(rec, old)) {
      return rec.version === old.version ? "same" : "stale";
    }
    const delta = entryCost(rec) - (old === undefined ? 0 : entryCost(old));
    if (this.used + delta > this.quotaBytes && (this.sweep(now) === 0 || !this.fits(delta))) {
      return "over-quota";
    }
    this.map.set(id, rec);
    this.used += delta;
    this.expiries.push(rec.deadline, id);
    this.compactIfBloated();
    return "stored";
  }

  private fits(delta: number): boolean {
    return this.used + delta <= this.quotaBytes;
  }

  /** The live record under `id`; an expired one is dropped on the way. */
  get(id: KeyId, now: number): R | undefined {
    const rec = this.map.get(id);
    if (rec === undefined || now <= rec.deadline) return rec;
    this.delete(id);
    return undefined;
  }

  delete(id: KeyId): boolean {
    const rec = this.map.get(id);
    if (rec === undefined) return false;
    this.map.delete(id);
    this.used -= entryCost(rec);
    this.onRemove?.(id);
    return true;
  }

  /** Drops every record whose deadline has passed; returns how many. */
  sweep(now: number): number {
    let removed = 0;
    for (let at = this.expiries.peekDeadline(); at !== undefined && at < now; ) {
      const id = this.expiries.peekId() as KeyId;
      this.expiries.pop();
      const rec = this.map.get(id);
      if (rec !== undefined && rec.deadline === at && this.delete(id)) removed++;
      at = this.expiries.peekDeadline();
    }
    return removed;
  }

  /** The earliest deadline that may still be pending, or undefined when empty. */
  nextDeadline(): number | undefined {
    return this.expiries.peekDeadline();
  }

  /** Every live record (expired ones are skipped, not removed). */
  *entries(now: number): IterableIterator<[KeyId, R]> {
    for (const entry of this.map) if (now <= entry[1].deadline) yield entry;
  }

  /** Overwrites leave stale heap entries behind; rebuild when they dominate. */
  private compactIfBloated(): void {
    if (this.expiries.length <= 2 * this.map.size + 1024) return;
    const live: [number, KeyId][] = [];
    for (const [id, rec] of this.map) live.push([rec.deadline, id]);
    this.expiries.rebuild(live);
  }
}
