// Proof of work on admission (src/ring/pow.ts): the digest against an
// independent SHA3-256, solve/verify round trips, rejection of a solution for
// another address, another challenge or too few bits, leading-zero counting at
// its edges, and the stepwise solver agreeing with the one-shot solver.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  DEFAULT_POW_BITS,
  leadingZeroBits,
  POW_SOLUTION_BYTES,
  powDigest,
  solvePow,
  solvePowSteps,
  verifyPow,
} from "../../src/ring/pow.js";

const challenge = Buffer.from("00112233445566778899aabbccddeeff", "hex");
const ADDR = "10.0.0.1:4000";

/** Leading zero bits counted one bit at a time, as a reference. */
function refZeroBits(buf: Uint8Array): number {
  let n = 0;
  for (const byte of buf) {
    for (let bit = 7; bit >= 0; bit--) {
      if ((byte >> bit) & 1) return n;
      n++;
    }
  }
  return n;
}

describe("powDigest", () => {
  test("is SHA3-256 of challenge, UTF-8 address and solution", () => {
    const solution = Buffer.from("0102030405060708", "hex");
    const addr = "[fe80::1]:4000 é";
    const expected = createHash("sha3-256")
      .update(challenge)
      .update(Buffer.from(addr, "utf8"))
      .update(solution)
      .digest();
    assert.deepEqual(powDigest(challenge, addr, solution), expected);
  });
});

describe("leadingZeroBits", () => {
  test("edge cases", () => {
    assert.equal(leadingZeroBits(Buffer.alloc(0)), 0);
    assert.equal(leadingZeroBits(Buffer.alloc(32)), 256);
    assert.equal(leadingZeroBits(Buffer.from([0x80])), 0);
    assert.equal(leadingZeroBits(Buffer.from([0xff, 0])), 0);
    assert.equal(leadingZeroBits(Buffer.from([0x01])), 7);
    assert.equal(leadingZeroBits(Buffer.from([0x00, 0x01])), 15);
    assert.equal(leadingZeroBits(Buffer.from([0x00, 0x00, 0x40])), 17);
    assert.equal(leadingZeroBits(Buffer.from([0x00, 0x80, 0x00])), 8);
    assert.equal(leadingZeroBits(new Uint8Array([0, 0, 0, 0x10])), 27);
  });

  test("agrees with a bit-by-bit count", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      // mostly zero bytes, so long prefixes of zeros are common
      fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 255 })), {
        maxLength: 40,
      }),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        const buf = Uint8Array.from(b);
        assert.equal(leadingZeroBits(buf), refZeroBits(buf));
      }),
    );
  });
});

describe("solve and verify", () => {
  test("a solution verifies, at its difficulty and every lower one", () => {
    const bits = 12;
    const solution = solvePow(challenge, ADDR, bits);
    assert.equal(solution.length, POW_SOLUTION_BYTES);
    assert.ok(leadingZeroBits(powDigest(challenge, ADDR, solution)) >= bits);
    for (let b = 0; b <= bits; b++) assert.ok(verifyPow(challenge, ADDR, solution, b), `bits ${b}`);
  });

  test("solvePow returns the first solution from candidate 0", () => {
    const bits = 10;
    const solution = solvePow(challenge, ADDR, bits);
    const found = solution.readBigUInt64BE(0);
    const candidate = Buffer.alloc(8);
    for (let c = 0n; c < found; c++) {
      candidate.writeBigUInt64BE(c);
      assert.ok(!verifyPow(challenge, ADDR, candidate, bits), `candidate ${c} also solves`);
    }
  });

  test("a solution is rejected for another address, another challenge, or more bits", () => {
    const bits = 12;
    const solution = solvePow(challenge, ADDR, bits);
    const achieved = leadingZeroBits(powDigest(challenge, ADDR, solution));
    assert.ok(!verifyPow(challenge, ADDR, solution, achieved + 1), "more bits than achieved");
    // A lucky pass elsewhere has probability 2^-12 per check; the inputs below are fixed.
    assert.ok(!verifyPow(challenge, "10.0.0.1:4001", solution, bits), "other port");
    assert.ok(!verifyPow(challenge, "10.0.0.2:4000", solution, bits), "other host");
    const other = Buffer.from(challenge);
    other[15]! ^= 1;
    assert.ok(!verifyPow(other, ADDR, solution, bits), "other challenge");
    assert.ok(!verifyPow(challenge.subarray(1), ADDR, solution, bits), "shorter challenge");
  });

  test("malformed solutions and difficulties are rejected", () => {
    const solution = solvePow(challenge, ADDR, 8);
    assert.ok(!verifyPow(challenge, ADDR, solution.subarray(0, 7), 0), "7 bytes");
    assert.ok(!verifyPow(challenge, ADDR, Buffer.concat([solution, Buffer.alloc(1)]), 0), "9 B");
    assert.ok(!verifyPow(challenge, ADDR, Buffer.alloc(0), 0), "empty");
    for (const bits of [-1, 257, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
      assert.ok(!verifyPow(challenge, ADDR, solution, bits), `bits ${bits}`);
    assert.ok(verifyPow(challenge, ADDR, Buffer.alloc(8, 0xab), 0), "0 bits accepts anything");
  });

  test("solvePowSteps rejects bad arguments", () => {
    assert.throws(() => solvePowSteps(challenge, ADDR, 257, 0, 1), RangeError);
    assert.throws(() => solvePowSteps(challenge, ADDR, -1, 0, 1), RangeError);
    assert.throws(() => solvePowSteps(challenge, ADDR, 8, -1, 1), RangeError);
    assert.throws(() => solvePowSteps(challenge, ADDR, 8, -1n, 1), RangeError);
    assert.throws(() => solvePowSteps(challenge, ADDR, 8, 0.5, 1), RangeError);
    assert.throws(() => solvePowSteps(challenge, ADDR, 8, 0, -1), RangeError);
  });

  test("DEFAULT_POW_BITS is a sane difficulty", () => {
    assert.ok(Number.isInteger(DEFAULT_POW_BITS));
    assert.ok(DEFAULT_POW_BITS >= 8 && DEFAULT_POW_BITS <= 32);
  });
});

describe("solvePowSteps", () => {
  test("count 0 tries nothing", () => {
    assert.deepEqual(solvePowSteps(challenge, ADDR, 0, 42n, 0), { next: 42n });
  });

  test("at 0 bits the first candidate solves, and next is the one after it", () => {
    const step = solvePowSteps(challenge, ADDR, 0, 7, 10);
    assert.deepEqual(step.solution, Buffer.from("0000000000000007", "hex"));
    assert.equal(step.next, 8n);
  });

  test("counters carry across 32 bits and wrap at 2^64", () => {
    const carry = solvePowSteps(challenge, ADDR, 256, 0xffff_ffffn, 1);
    assert.equal(carry.solution, undefined);
    assert.equal(carry.next, 0x1_0000_0000n);
    const wrap = solvePowSteps(challenge, ADDR, 256, 2n ** 64n - 1n, 1);
    assert.equal(wrap.next, 0n);
    const step = solvePowSteps(challenge, ADDR, 0, 0xffff_ffffn, 2);
    assert.deepEqual(step.solution, Buffer.from("00000000ffffffff", "hex"));
    const high = solvePowSteps(challenge, ADDR, 0, 0x1_0000_0000n, 1);
    assert.deepEqual(high.solution, Buffer.from("0000000100000000", "hex"));
  });

  test("an unsolved step tries exactly count candidates", () => {
    const step = solvePowSteps(challenge, ADDR, 256, 1000, 123);
    assert.deepEqual(step, { next: 1123n });
  });

  test("property: small steps find the same first solution as solvePow", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        fc.string({ maxLength: 30 }),
        fc.integer({ min: 0, max: 9 }),
        fc.integer({ min: 1, max: 300 }),
        (ch, addr, bits, count) => {
          const expected = solvePow(ch, addr, bits);
          let next: bigint = 0n;
          let solution: Buffer | undefined;
          for (let steps = 0; solution === undefined; steps++) {
            assert.ok(steps < 100_000, "no solution found");
            ({ solution, next } = solvePowSteps(ch, addr, bits, next, count));
          }
          assert.deepEqual(solution, expected);
          assert.equal(next, expected.readBigUInt64BE(0) + 1n);
          assert.ok(verifyPow(ch, addr, solution, bits));
          assert.ok(leadingZeroBits(powDigest(ch, addr, solution)) >= bits);
        },
      ),
      { numRuns: 60 },
    );
  });

  test("property: verification agrees with the digest's leading zeros", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 32 }),
        fc.string({ maxLength: 30 }),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        fc.integer({ min: 0, max: 12 }),
        (ch, addr, sol, bits) => {
          const zeros = leadingZeroBits(powDigest(ch, addr, sol));
          assert.equal(verifyPow(ch, addr, sol, bits), zeros >= bits);
        },
      ),
    );
  });
});
