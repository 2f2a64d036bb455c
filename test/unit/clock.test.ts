// The system clock's timer rounding (ports.ts): delays are rounded up to within
// 1/64 of themselves so thousands of jittered periods share Node's timer lists.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { coarseDelay } from "../../src/ports.js";

test("a coarse delay is never shorter, and at most 1/64 (or under 1 ms) longer", () => {
  fc.assert(
    fc.property(fc.double({ min: 0, max: 2 ** 31 - 1, noNaN: true }), (ms) => {
      const d = coarseDelay(ms);
      assert.ok(d >= ms, `${d} < ${ms}`);
      assert.ok(d - ms <= Math.max(1, ms / 64), `${d} is too far past ${ms}`);
      assert.ok(Number.isInteger(d));
    }),
  );
});

test("jittered periods collapse onto few distinct delays", () => {
  const distinct = new Set<number>();
  for (let i = 0; i < 10_000; i++) distinct.add(coarseDelay(4000 * (0.5 + i / 10_000)));
  // 2,000-6,000 ms: steps of 16 and 64 ms, about 130 lists instead of 10,000.
  assert.ok(distinct.size <= 160, `${distinct.size} distinct delays`);
  assert.equal(coarseDelay(-5), 0);
  assert.equal(coarseDelay(50.2), 51);
});
