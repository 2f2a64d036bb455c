// A node restarted with the records it persisted (data_dir) while the ring
// moved on: it holds them as a node back from a pause does. Not fresh until
// anti-entropy ran, so its stale copy is never the owner's answer; a read
// through it returns the newer value written while it was down; and its old
// copies end up replaced by the newer version or handed off, never served as
// newest. A lone node with records catches up at once.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { keyPosition } from "../../src/ring/id.js";
import type { WireRecord } from "../../src/wire/peer.js";
import { SimRing } from "./sim-ring.js";

/** A node at `addr` over the ring's network, records restored before it starts. */
function restartAt(ring: SimRing, addr: string, records: { key: Buffer; rec: WireRecord }[]) {
  const node = ring.create(addr, { unguarded: true });
  const kept = node.restore(records);
  return { node, kept };
}

describe("restart with persisted records", () => {
  test("a lone node with records is not fresh until it has caught up, then serves them", async () => {
    const ring = new SimRing(7);
    const key = Buffer.alloc(32, 9);
    const now = ring.clock.now();
    const rec = {
      value: Buffer.from("kept"),
      version: now * 1000,
      deadline: now + 60_000,
      replication: 3,
    };
    const { node, kept } = restartAt(ring, "solo:7000", [{ key, rec }]);
    assert.equal(kept, 1);
    assert.equal(node.data.fresh, false, "records loaded: not fresh before it starts");
    await ring.settle(node.start([]));
    assert.ok(await ring.clock.runUntil(() => node.data.fresh, 5_000), "fresh once synced");
    assert.equal((await ring.settle(node.get(key)))?.toString(), "kept");
  });

  test("stale copies of a restarted holder never win; they are replaced or handed off", async () => {
    const ring = new SimRing(11);
    await ring.grow(8);
    assert.ok((await ring.converge(30_000)) >= 0);
    const key = Buffer.alloc(32, 0x5a);
    await ring.settle(
      ring.live[0]!.put({ key, value: Buffer.from("old"), ttl: 0, replication: 0 }),
    );
    const victim = ring.holdersOf(key, 3)[1]!; // a replica of the key
    const stale = victim.data.getLocal(key);
    assert.equal(stale?.value.toString(), "old");
    // What it had persisted: that key, and one far from its range (stranded after the restart).
    const far = [...Array(256).keys()]
      .map((i) => Buffer.alloc(32, i))
      .find((k) => !ring.holdersOf(k, 6).includes(victim))!;
    const farRec = { ...stale!, value: Buffer.from("far away") };

    ring.net.kill(victim.self.addr);
    await victim.stop();
    assert.ok((await ring.converge(30_000)) >= 0);
    const writer = ring.live.find((n) => n !== victim)!;
    await ring.settle(writer.put({ key, value: Buffer.from("new"), ttl: 0, replication: 0 }));

    const { node, kept } = restartAt(ring, victim.self.addr, [
      { key, rec: stale! },
      { key: far, rec: farRec },
    ]);
    assert.equal(kept, 2);
    assert.equal(node.data.fresh, false);
    assert.equal(
      node.data.localAnswer(key, () => true).owner,
      false,
      "never the owner's answer before catching up",
    );
    await ring.settle(node.start([writer.self.addr]));
    assert.equal(
      (await ring.settle(node.get(key)))?.toString(),
      "new",
      "reads see the newer write",
    );
    assert.ok((await ring.converge(30_000)) >= 0);
    await ring.clock.advance(20_000);
    assert.equal(node.data.fresh, true);
    assert.notEqual(node.data.getLocal(key)?.value.toString(), "old", "the stale copy is gone");
    assert.equal(node.data.getLocal(far), null, "the stranded record was handed off");
    const holders = ring.holdersOf(far, 3);
    assert.ok(
      holders.some((h) => h.data.getLocal(far)?.value.toString() === "far away"),
      `handed to a holder of ${keyPosition(far).slice(0, 8)}`,
    );
  });
});
