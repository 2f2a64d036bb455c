// Joins, graceful leaves, lossy links and late bootstrappers, in simulation.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ChordNode } from "../../src/chord/chord-node.js";
import { keyPosition } from "../../src/ring/id.js";
import { keyId } from "../../src/wire/key.js";
import { SimRing } from "./sim-ring.js";

const keysFor = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => Buffer.from(`${tag} ${i}`.padEnd(32, "-")));

async function putAll(ring: SimRing, keys: Buffer[], replication: number): Promise<void> {
  for (const key of keys) {
    const entry: ChordNode = ring.live[Math.floor(ring.random() * ring.live.length)]!;
    await ring.settle(
      entry.put({ key, value: Buffer.from(key.toString().trim()), ttl: 0, replication }),
    );
  }
}

async function missing(ring: SimRing, keys: Buffer[]): Promise<number> {
  let lost = 0;
  for (const key of keys) {
    const entry: ChordNode = ring.live[Math.floor(ring.random() * ring.live.length)]!;
    const value = await ring.settle(entry.get(key));
    if (value === undefined || value.toString() !== key.toString().trim()) lost++;
  }
  return lost;
}

describe("simulated churn", () => {
  test("graceful leaves hand everything over: no key lost even with replication 1", async () => {
    const ring = new SimRing(11);
    await ring.grow(60);
    assert.ok((await ring.converge(30_000)) >= 0);
    const keys = keysFor(200, "leave");
    await putAll(ring, keys, 1);
    for (let i = 0; i < 20; i++) {
      const leaver = ring.live[1 + Math.floor(ring.random() * (ring.live.length - 1))]!;
      await ring.settle(leaver.leave());
      await ring.clock.advance(100);
    }
    assert.equal(ring.live.length, 40);
    assert.ok((await ring.converge(30_000)) >= 0, "ring did not reconverge");
    assert.equal(await missing(ring, keys), 0);
  });

  test("nodes joining after the data was stored take over their ranges", async () => {
    const ring = new SimRing(12);
    await ring.grow(20);
    const keys = keysFor(300, "join");
    await putAll(ring, keys, 3);
    await ring.grow(50);
    assert.ok((await ring.converge(30_000)) >= 0);
    await ring.clock.advance(5_000);
    // Every key is held by its owner by definition (split on join, or repair).
    const unowned = keys.filter(
      (k) => ring.ownerOf(k).data.store.get(keyId(k), ring.clock.now()) === undefined,
    );
    assert.deepEqual(
      unowned.map((k) => keyPosition(k).slice(0, 8)),
      [],
    );
    assert.equal(await missing(ring, keys), 0);
  });

  test("a ring forms over links that drop 2% of messages, and serves every key once they heal", async () => {
    const ring = new SimRing(13);
    ring.net.setDrop(0.02);
    await ring.grow(100, 2000, 300_000);
    assert.equal(ring.live.length, 100, "some joins never completed");
    const keys = keysFor(100, "lossy");
    ring.net.setDrop(0);
    assert.ok((await ring.converge(30_000)) >= 0, "no convergence after the loss stopped");
    await putAll(ring, keys, 3);
    assert.equal(await missing(ring, keys), 0);
  });

  test("the newest write wins on every copy", async () => {
    const ring = new SimRing(14);
    await ring.grow(30);
    const key = Buffer.alloc(32, 9);
    const [a, b] = [ring.live[3]!, ring.live[17]!];
    await ring.settle(a.put({ key, value: Buffer.from("old"), ttl: 0, replication: 3 }));
    await ring.clock.advance(10);
    await ring.settle(b.put({ key, value: Buffer.from("new"), ttl: 0, replication: 3 }));
    const holders = ring.live.filter(
      (n) => n.data.store.get(keyId(key), ring.clock.now()) !== undefined,
    );
    assert.equal(holders.length, 3);
    for (const h of holders)
      assert.equal(h.data.store.get(keyId(key), ring.clock.now())?.value.toString(), "new");
    for (const n of ring.live) assert.equal((await ring.settle(n.get(key)))?.toString(), "new");
  });

  test("a node whose bootstrapper is down retries with back-off and joins once it is up", async () => {
    const ring = new SimRing(15);
    const { node: first } = ring.spawn();
    ring.net.kill(first.self.addr);
    await first.stop();
    const late = ring.spawn(first);
    await ring.clock.advance(3_000);
    assert.equal(late.node.running, false, "joined through a dead bootstrapper");
    // The bootstrapper's address comes back as a fresh node that starts a network.
    const { started } = ring.spawnAt(first.self.addr);
    await ring.settle(started);
    await ring.settle(late.started, 60_000);
    assert.equal(late.node.running, true);
    assert.ok((await ring.converge(10_000)) >= 0);
  });
});
