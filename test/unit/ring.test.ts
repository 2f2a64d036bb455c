// Ring math against an independent BigInt reference: the named intervals at
// wrap-around, equal bounds and the ends of the ring; finger starts, distance,
// and the SHA-256 ids of nodes and keys.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  bigIntToId,
  distance,
  fingerStart,
  ID_BITS,
  type Id,
  idToBigInt,
  isId,
  keyPosition,
  MAX_ID,
  nodeIdOf,
  shortId,
  ZERO_ID,
} from "../../src/ring/id.js";
import { between, betweenLeftIncl, betweenRightIncl } from "../../src/ring/interval.js";

const RING = 2n ** 256n;
const hexOf = (n: bigint): Id => n.toString(16).padStart(64, "0");
const numberOf = (id: Id): bigint => BigInt(`0x${id}`);
/** Clockwise steps from a to b, computed without the module under test. */
const steps = (a: Id, b: Id): bigint => (((numberOf(b) - numberOf(a)) % RING) + RING) % RING;

const ref = {
  open: (a: Id, x: Id, b: Id) =>
    a === b ? x !== a : steps(a, x) > 0n && steps(a, x) < steps(a, b),
  rightIncl: (a: Id, x: Id, b: Id) => a === b || (steps(a, x) > 0n && steps(a, x) <= steps(a, b)),
  leftIncl: (a: Id, x: Id, b: Id) => a === b || steps(a, x) < steps(a, b),
};

const ONE = hexOf(1n);
const HALF = hexOf(RING / 2n);
const edges = [ZERO_ID, ONE, hexOf(2n), HALF, hexOf(RING / 2n - 1n), hexOf(RING - 2n), MAX_ID];

/** Uniform ids, mixed with the edges of the ring. */
const anyId = fc.oneof(
  { arbitrary: fc.bigInt({ min: 0n, max: RING - 1n }).map(hexOf), weight: 3 },
  { arbitrary: fc.constantFrom(...edges), weight: 1 },
);

/** (a, x, b) drawn from a pool of three, so coincidences (x = a, a = b, ...) are common. */
const triple = fc
  .tuple(
    fc.array(anyId, { minLength: 3, maxLength: 3 }),
    fc.array(fc.nat(2), { minLength: 3, maxLength: 3 }),
  )
  .map(([pool, [i, j, k]]) => [pool[i!]!, pool[j!]!, pool[k!]!] as const);

describe("intervals", () => {
  test("agree with the BigInt reference, coincident points included", () => {
    fc.assert(
      fc.property(triple, ([a, x, b]) => {
        assert.equal(between(a, x, b), ref.open(a, x, b), `(${a}, ${b}) ∋ ${x}`);
        assert.equal(betweenRightIncl(a, x, b), ref.rightIncl(a, x, b), `(${a}, ${b}] ∋ ${x}`);
        assert.equal(betweenLeftIncl(a, x, b), ref.leftIncl(a, x, b), `[${a}, ${b}) ∋ ${x}`);
      }),
      { numRuns: 2_000 },
    );
  });

  test("agree with the reference over every combination of the ring's edges", () => {
    for (const a of edges)
      for (const x of edges)
        for (const b of edges) {
          assert.equal(between(a, x, b), ref.open(a, x, b), `(${a}, ${b}) ∋ ${x}`);
          assert.equal(betweenRightIncl(a, x, b), ref.rightIncl(a, x, b));
          assert.equal(betweenLeftIncl(a, x, b), ref.leftIncl(a, x, b));
        }
  });

  test("equal bounds: (a, a) is everything but a; (a, a] and [a, a) are everything", () => {
    fc.assert(
      fc.property(anyId, anyId, (a, x) => {
        assert.equal(between(a, x, a), x !== a);
        assert.equal(betweenRightIncl(a, x, a), true);
        assert.equal(betweenLeftIncl(a, x, a), true);
      }),
    );
    for (const a of edges) {
      assert.equal(between(a, a, a), false);
      assert.equal(betweenRightIncl(a, a, a), true);
      assert.equal(betweenLeftIncl(a, a, a), true);
    }
  });

  test("wrap-around: an interval from near the top to near the bottom holds 2^256-1 and 0", () => {
    const a = hexOf(RING - 16n);
    const b = hexOf(16n);
    for (const x of [MAX_ID, ZERO_ID, ONE, hexOf(RING - 15n), hexOf(15n)]) {
      assert.equal(between(a, x, b), true, x);
    }
    for (const x of [HALF, a, b, hexOf(17n), hexOf(RING - 17n)]) {
      assert.equal(between(a, x, b), false, x);
    }
    assert.equal(betweenRightIncl(a, b, b), true);
    assert.equal(betweenRightIncl(a, a, b), false);
    assert.equal(betweenLeftIncl(a, a, b), true);
    assert.equal(betweenLeftIncl(a, b, b), false);
    assert.equal(between(MAX_ID, ZERO_ID, ONE), true);
    assert.equal(between(MAX_ID, ZERO_ID, ZERO_ID), false);
    assert.equal(betweenRightIncl(MAX_ID, ZERO_ID, ZERO_ID), true);
    assert.equal(between(ZERO_ID, MAX_ID, ZERO_ID), true);
    assert.equal(between(ZERO_ID, HALF, MAX_ID), true);
    assert.equal(between(ZERO_ID, MAX_ID, MAX_ID), false);
  });

  test("exactly one of (a, b] and (b, a] holds a point, when a != b", () => {
    fc.assert(
      fc.property(anyId, anyId, anyId, (a, b, x) => {
        fc.pre(a !== b);
        assert.notEqual(betweenRightIncl(a, x, b), betweenRightIncl(b, x, a));
      }),
    );
  });
});

describe("ids", () => {
  test("ZERO_ID and MAX_ID are 0 and 2^256-1; ID_BITS is 256", () => {
    assert.equal(idToBigInt(ZERO_ID), 0n);
    assert.equal(idToBigInt(MAX_ID), RING - 1n);
    assert.equal(ID_BITS, 256);
  });

  test("idToBigInt and bigIntToId are inverse, and bigIntToId reduces mod 2^256", () => {
    fc.assert(
      fc.property(anyId, fc.bigInt({ min: -4n * RING, max: 4n * RING }), (id, n) => {
        assert.equal(bigIntToId(idToBigInt(id)), id);
        assert.equal(idToBigInt(id), numberOf(id));
        assert.equal(bigIntToId(n), hexOf(((n % RING) + RING) % RING));
      }),
    );
    assert.equal(bigIntToId(-1n), MAX_ID);
    assert.equal(bigIntToId(RING), ZERO_ID);
  });

  test("fingerStart(id, i) is (id + 2^i) mod 2^256", () => {
    fc.assert(
      fc.property(anyId, fc.integer({ min: 0, max: 255 }), (id, i) => {
        assert.equal(fingerStart(id, i), hexOf((numberOf(id) + 2n ** BigInt(i)) % RING));
      }),
      { numRuns: 1_000 },
    );
    assert.equal(fingerStart(MAX_ID, 0), ZERO_ID);
    assert.equal(fingerStart(ZERO_ID, 255), HALF);
    assert.equal(fingerStart(HALF, 255), ZERO_ID);
  });

  test("distance is the clockwise step count", () => {
    fc.assert(
      fc.property(anyId, anyId, (a, b) => {
        assert.equal(distance(a, b), steps(a, b));
        if (a !== b) assert.equal(distance(a, b) + distance(b, a), RING);
      }),
    );
    assert.equal(distance(MAX_ID, ZERO_ID), 1n);
    assert.equal(distance(ZERO_ID, MAX_ID), RING - 1n);
    assert.equal(distance(HALF, HALF), 0n);
  });

  test("text order of ids is numeric order", () => {
    fc.assert(
      fc.property(anyId, anyId, (a, b) => {
        assert.equal(a < b, numberOf(a) < numberOf(b));
        assert.equal(a === b, numberOf(a) === numberOf(b));
      }),
    );
  });

  test("nodeIdOf is SHA-256 of the address text", () => {
    assert.equal(
      nodeIdOf("abc"),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 60 }), (address) => {
        const id = nodeIdOf(address);
        assert.equal(id, createHash("sha256").update(address, "utf8").digest("hex"));
        assert.ok(isId(id));
      }),
    );
    assert.notEqual(nodeIdOf("127.0.0.1:4000"), nodeIdOf("127.0.0.1:4001"));
  });

  test("keyPosition is SHA-256 of the key bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const key = Buffer.from(bytes);
        assert.equal(keyPosition(key), createHash("sha256").update(key).digest("hex"));
      }),
    );
    assert.equal(
      keyPosition(Buffer.alloc(32)),
      "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925",
    );
    assert.equal(keyPosition(Buffer.from("abc")), nodeIdOf("abc"));
  });

  test("isId accepts exactly 64 lowercase hex digits; shortId is the first 8", () => {
    fc.assert(fc.property(anyId, (id) => assert.ok(isId(id))));
    for (const bad of [
      "",
      MAX_ID.toUpperCase(),
      `${ZERO_ID}0`,
      ZERO_ID.slice(1),
      `g${ZERO_ID.slice(1)}`,
    ]) {
      assert.equal(isId(bad), false, bad);
    }
    assert.equal(shortId(HALF), "80000000");
  });
});
