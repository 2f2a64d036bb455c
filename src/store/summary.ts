// Range summaries for anti-entropy (Dynamo §4.7, with hashed buckets instead of
// a Merkle tree): the records of a ring range (lo, hi] fall into 64 buckets by
// the last byte of their position; a bucket's hash is the sum (mod 2^32) of its
// records' digests, the root the sum of every digest. Two replicas compare the
// root and count first and look at buckets only when these differ. Pure.

import { crc32 } from "node:zlib";
import type { Id } from "../ring/id.js";
import { betweenRightIncl } from "../ring/interval.js";
import { SYNC_BUCKETS as SUMMARY_BUCKETS } from "../wire/peer.js";

export { SUMMARY_BUCKETS };

/** What a summary needs of a record. */
export interface Summarizable {
  readonly pos: Id;
  readonly digest: number;
  readonly replication: number;
}

export interface RangeSummary {
  readonly root: number;
  readonly count: number;
  readonly buckets: readonly number[];
}

/** The bucket of a ring position: its last byte, modulo the bucket count. */
export const bucketOf = (pos: Id): number => Number.parseInt(pos.slice(62), 16) % SUMMARY_BUCKETS;

/** Murmur3's 32-bit finaliser: spreads the linear CRC so sums do not cancel by structure. */
function mix32(h: number): number {
  let x = h >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A 32-bit digest of one record version: key, version and value. */
export function recordDigest(key: Buffer, version: number, value: Buffer): number {
  const head = Buffer.allocUnsafe(40);
  key.copy(head, 0, 0, 32);
  head.writeDoubleBE(version, 32);
  return mix32(crc32(value, crc32(head)));
}

/** Whether a record belongs to the summary of (lo, hi] for replicas needing `minReplication`. */
export const inRange = (rec: Summarizable, lo: Id, hi: Id, minReplication: number): boolean =>
  rec.replication >= minReplication && betweenRightIncl(lo, rec.pos, hi);

/** Summarises the records of (lo, hi] whose replication is at least `minReplication`. */
export function summarize(
  records: Iterable<Summarizable>,
  lo: Id,
  hi: Id,
  minReplication: number,
): RangeSummary {
  let buckets: number[] | undefined;
  let root = 0;
  let count = 0;
  for (const rec of records) {
    if (!inRange(rec, lo, hi, minReplication)) continue;
    buckets ??= new Array<number>(SUMMARY_BUCKETS).fill(0);
    const b = bucketOf(rec.pos);
    buckets[b] = (buckets[b]! + rec.digest) >>> 0;
    root = (root + rec.digest) >>> 0;
    count++;
  }
  return buckets === undefined ? EMPTY_SUMMARY : { root, count, buckets };
}

const NO_BUCKETS: readonly number[] = Object.freeze(new Array<number>(SUMMARY_BUCKETS).fill(0));
/** The summary of a range without records: one shared object, never mutated. */
const EMPTY_SUMMARY: RangeSummary = Object.freeze({ root: 0, count: 0, buckets: NO_BUCKETS });

/** The buckets whose hashes differ. */
export function differingBuckets(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < SUMMARY_BUCKETS; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}
