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

  test("holding values, an idle ring stays within 1.7 messages per node per second", async () => {
    // The stranded-record scan once let an owner's confirmation lapse after
    // 16 s while a calm owner renews it every 28 s or so: each replica then
    // looked its records up every scan, 7 messages per node-second in all.
    const ring = new SimRing(12);
    await ring.grow(64);
    assert.ok((await ring.converge(120_000)) >= 0, "ring did not converge");
    const keys = Array.from({ length: 640 }, (_, i) => Buffer.from(`idle ${i}`.padEnd(32, ".")));
    for (let i = 0; i < keys.length; i += 64) {
      const batch = keys.slice(i, i + 64).map((key, j) =>
        ring.live[j % ring.live.length]!.put({
          key,
          value: Buffer.from("v"),
          ttl: 0,
          replication: 0,
        }),
      );
      await ring.settle(Promise.all(batch), 60_000);
    }
    await ring.clock.advance(120_000);
    const before = ring.net.stats.sent;
    const windowMs = 120_000;
    await ring.clock.advance(windowMs);
    const rate = (ring.net.stats.sent - before) / ring.live.length / (windowMs / 1000);
    console.log(`idle upkeep with values: ${rate.toFixed(3)} messages per node-second`);
    assert.ok(rate <= 1.7, `${rate.toFixed(3)} messages per node-second`);
  });
});
