// Proof of work on admission. Policy: a node that wants to join asks the node
// it joins for a fresh challenge (random bytes, chosen and remembered by that
// node), then finds an 8-byte solution s such that
//     SHA3-256(challenge || utf8(addr) || s)
// starts with at least `bits` zero bits, where addr is the joiner's P2P
// address ("host:port"). The work is bound to both: it cannot be reused for
// another address (hence another ring id) nor replayed on another challenge.
// Checking costs one hash; solving costs 2^bits hashes on average (the number
// of attempts is geometric, so the median is ln 2 · 2^bits and the tail is
// long). The concatenation has no length prefixes: the verifier fixes both
// challenge and addr itself, so no other split of the same bytes can be
// presented to it.
// The solver works in steps of `count` candidates (solvePowSteps) so a caller
// can yield to its event loop between steps; candidates are the 64-bit
// big-endian counters start, start + 1, ... (mod 2^64). Pure: no timers, no
// clock; the hot loop allocates only the digest.

import { hash } from "node:crypto";

/**
 * Difficulty used unless configured otherwise: the one whose median solve is
 * nearest 100 ms. Measured on the development machine (2 vCPU AMD EPYC, Node
 * 20.20, `BENCH_ONLY=pow npm run bench`): 1.2-1.9 µs of CPU per attempt, so
 * the median solve (ln 2 · 2^16 attempts) takes 55-90 ms at 16 bits, against
 * 110-180 ms at 17 and 14-22 ms at 14 (a 101-solve run on a quiet machine:
 * 66 ms median at 16 bits; a 41-solve run at load average 5: 98.7 ms median,
 * 2.0 µs per attempt). The 90th percentile is about 2.5-3.3× the median.
 * A shared, loaded machine solves 2-4× slower in wall-clock time. Verifying
 * costs one hash: 2 µs.
 */
export const DEFAULT_POW_BITS = 16;
/** Length of a solution in bytes. */
export const POW_SOLUTION_BYTES = 8;
/** Recommended challenge length: enough that a challenge is never issued twice. */
export const POW_CHALLENGE_BYTES = 16;
/** Bits in a SHA3-256 digest: no difficulty can exceed it. */
export const POW_MAX_BITS = 256;

const ALGORITHM = "sha3-256";
const TWO_32 = 0x1_0000_0000;
const U64_MASK = (1n << 64n) - 1n;

/** SHA3-256(challenge || utf8(addr) || solution). */
export function powDigest(challenge: Uint8Array, addr: string, solution: Uint8Array): Buffer {
  return hash(ALGORITHM, Buffer.concat([challenge, Buffer.from(addr, "utf8"), solution]), "buffer");
}

/** The number of leading zero bits of `buf` (8 × its length when all zero). */
export function leadingZeroBits(buf: Uint8Array): number {
  for (let i = 0; i < buf.length; i++) {
    const byte = buf[i]!;
    if (byte !== 0) return i * 8 + Math.clz32(byte) - 24;
  }
  return buf.length * 8;
}

/**
 * Whether `solution` proves `bits` of work for `addr` on `challenge`. False for
 * a solution of the wrong length and for any `bits` outside [0, 256] or not an
 * integer; 0 bits accepts any 8-byte solution.
 */
export function verifyPow(
  challenge: Uint8Array,
  addr: string,
  solution: Uint8Array,
  bits: number,
): boolean {
  if (!validBits(bits) || solution.length !== POW_SOLUTION_BYTES) return false;
  return meets(powDigest(challenge, addr, solution), bits >>> 3, lowMask(bits));
}

export interface PowStep {
  /** A solution found in this step (a fresh 8-byte buffer), or none. */
  solution?: Buffer;
  /** The candidate to start the next step from (after the solution, if one was found). */
  next: bigint;
}

/**
 * Tries the `count` candidates from `start` (mod 2^64) and stops at the first
 * solution. Throws RangeError for bits outside [0, 256], a negative or
 * fractional start, or a negative count.
 */
export function solvePowSteps(
  challenge: Uint8Array,
  addr: string,
  bits: number,
  start: bigint | number,
  count: number,
): PowStep {
  if (!validBits(bits))
    throw new RangeError(`pow: bits must be an integer in [0, 256], got ${bits}`);
  if (!(Number.isSafeInteger(count) && count >= 0))
    throw new RangeError(`pow: count must be a non-negative integer, got ${count}`);
  const first = toU64(start);
  const prefix = Buffer.concat([challenge, Buffer.from(addr, "utf8")]);
  const input = Buffer.allocUnsafe(prefix.length + POW_SOLUTION_BYTES);
  prefix.copy(input);
  const at = prefix.length;
  const fullBytes = bits >>> 3;
  const mask = lowMask(bits);
  let hi = Number(first >> 32n);
  let lo = Number(first & 0xffff_ffffn);
  for (let i = 0; i < count; i++) {
    input.writeUInt32BE(hi, at);
    input.writeUInt32BE(lo, at + 4);
    const found = meets(hash(ALGORITHM, input, "buffer"), fullBytes, mask);
    lo++;
    if (lo === TWO_32) {
      lo = 0;
      hi = (hi + 1) % TWO_32;
    }
    if (found) return { solution: Buffer.from(input.subarray(at)), next: join(hi, lo) };
  }
  return { next: join(hi, lo) };
}

/**
 * Solves the puzzle in one synchronous run from candidate 0 (tests, benches;
 * a node solves with solvePowSteps and yields between steps). Returns the
 * first solution.
 */
export function solvePow(challenge: Uint8Array, addr: string, bits: number): Buffer {
  let next = 0n;
  for (;;) {
    const step = solvePowSteps(challenge, addr, bits, next, 1 << 16);
    if (step.solution !== undefined) return step.solution;
    next = step.next;
  }
}

const validBits = (bits: number): boolean =>
  Number.isInteger(bits) && bits >= 0 && bits <= POW_MAX_BITS;

/** The mask that must be clear in the byte after the whole zero bytes (0 when none). */
const lowMask = (bits: number): number => (0xff << (8 - (bits & 7))) & 0xff;

function meets(digest: Uint8Array, fullBytes: number, mask: number): boolean {
  for (let i = 0; i < fullBytes; i++) if (digest[i] !== 0) return false;
  return mask === 0 || (digest[fullBytes]! & mask) === 0;
}

function toU64(start: bigint | number): bigint {
  if (typeof start === "number") {
    if (!(Number.isSafeInteger(start) && start >= 0))
      throw new RangeError(`pow: start must be a non-negative integer, got ${start}`);
    return BigInt(start);
  }
  if (start < 0n) throw new RangeError(`pow: start must be non-negative, got ${start}`);
  return start & U64_MASK;
}

const join = (hi: number, lo: number): bigint => (BigInt(hi) << 32n) | BigInt(lo);
