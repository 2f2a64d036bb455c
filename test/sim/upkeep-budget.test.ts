// What an idle ring costs: once a formed ring has calmed down, each node's
// upkeep stays within a small, fixed number of messages per second
// (chord/upkeep.ts, docs/design.md "Cadence"). The predecessor check rides on
// the predecessor's own stabilize call while it keeps coming.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SimRing } from "./sim-ring.js";

/** Messages (requests and replies) per node and second an idle 64-node ring may send. */
const IDLE_BUDGET = 1.45;

describe("upkeep budget", () => {
  test("an idle, calm ring sends at most 1.45 messages per node per second", async () => {
    const ring = new SimRing(11);
    await ring.grow(64);
    assert.ok((await ring.converge(120_000)) >= 0, "ring did not converge");
    // Calm down: the cadence slows after stabilize runs that change nothing.
    await ring.clock.advance(120_000);
    assert.ok(ring.consistent());
    const before = ring.net.stats.sent;
    const windowMs = 120_000;
    await ring.clock.advance(windowMs);
    const rate = (ring.net.stats.sent - before) / ring.live.length / (windowMs / 1000);
    console.log(`idle upkeep: ${rate.toFixed(3)} messages per node-second`);
    assert.ok(rate <= IDLE_BUDGET, `${rate.toFixed(3)} messages per node-second`);
    assert.ok(rate > 0.2, "the ring still runs its upkeep");
    assert.ok(ring.consistent());
  });
});
