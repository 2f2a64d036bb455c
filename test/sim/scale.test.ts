// The simulator at scale (test/sim/scale.ts) at a size `npm test` affords:
// 1,000 nodes seeded in bulk stay consistent under their own maintenance, a
// wave of concurrent joiners links in, and checked lookups find the true owner
// in O(log N) hops. Correctness only: nothing here is timed.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runScale } from "./scale.js";

describe("simulator at scale", () => {
  test("1,000 seeded nodes plus 20 joiners converge, with lookups in O(log N) hops", async () => {
    const n = 1000;
    const r = await runScale(11, { nodes: n, windowMs: 1500, joiners: 20, lookups: 1000 });
    assert.ok(r.seededExact, "the seeded ring was not consistent with exact fingers");
    assert.ok(r.windowConsistent, "maintenance broke the seeded ring");
    assert.equal(r.windowFingers.dead, 0);
    assert.equal(r.windowFingers.exact, r.windowFingers.set, "maintenance changed right fingers");
    assert.ok(r.joinedMs >= 0, "the joiners did not all join");
    assert.ok(r.joinConvergedMs >= 0, "the ring did not converge after the joins");
    assert.equal(r.live, n + 20);
    assert.equal(r.finalFingers.dead, 0);
    const { hops } = r;
    assert.equal(hops.failed, 0, `${hops.failed} lookups failed`);
    assert.equal(hops.wrong, 0, `${hops.wrong} lookups named the wrong owner`);
    const log2n = Math.log2(r.live);
    assert.ok(hops.mean <= log2n, `mean path ${hops.mean.toFixed(2)} hops exceeds log2 N`);
    assert.ok(hops.mean >= 1, `mean path ${hops.mean.toFixed(2)} is implausibly short`);
    assert.ok(hops.max <= 2 * log2n, `a path of ${hops.max} hops`);
  });

  test("the same seed gives the same run", async () => {
    const o = { nodes: 200, windowMs: 1000, joiners: 10, lookups: 200 };
    const strip = ({
      seedWallMs,
      windowWallMs,
      joinWallMs,
      hopsWallMs,
      ...rest
    }: Awaited<ReturnType<typeof runScale>>) => rest;
    assert.deepEqual(strip(await runScale(5, o)), strip(await runScale(5, o)));
  });
});
