// The rules for records from peers (chord/record-rules.ts) in a simulated
// ring: a member far from a key cannot push records for it, while the owner
// and its replicas can, and a far holder's copy still reaches the key's
// replica set (through the owner); a far-future version sent by a member is
// refused and never wins a read.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ChordNode } from "../../src/chord/chord-node.js";
import { maxVersionAt, noRefusals, REFUSAL_REASONS } from "../../src/chord/record-rules.js";
import { keyPosition } from "../../src/ring/id.js";
import { keyId } from "../../src/store/store.js";
import { SIM_OPTIONS, SimRing } from "./sim-ring.js";

const copyOf = (node: ChordNode, key: Buffer) =>
  node.data.live().filter(([id]) => id === keyId(key));
const valueAt = (node: ChordNode, key: Buffer) => node.data.getLocal(key)?.value.toString();

const keysFor = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => Buffer.from(`${tag} ${i}`.padEnd(32, "-")));

describe("records from peers in a simulated ring", () => {
  test("honest joins and leaves under writes: nothing refused that an honest node sends, no key lost", async () => {
    const ring = new SimRing(43);
    await ring.grow(24);
    assert.ok((await ring.converge(30_000)) >= 0);
    const keys = keysFor(120, "churn");
    const put = (key: Buffer, i: number) => {
      const entry = ring.live[i % ring.live.length]!;
      return entry.put({ key, value: Buffer.from(key.toString().trim()), ttl: 0, replication: 0 });
    };
    await ring.settle(Promise.all(keys.slice(0, 60).map(put)));
    // Joins and graceful leaves while the rest is written.
    const joins = Array.from({ length: 6 }, (_, i) => ring.spawn(ring.live[i * 3]!).started);
    const writes = Promise.all(keys.slice(60).map((k, i) => put(k, i + 60)));
    await ring.settle(Promise.all([...joins, writes]), 60_000);
    for (let i = 0; i < 6; i++) {
      await ring.settle(ring.live[2 + i * 3]!.leave());
      await ring.clock.advance(300);
    }
    assert.ok((await ring.converge(30_000)) >= 0);
    await ring.clock.advance(5_000);
    let lost = 0;
    for (const [i, key] of keys.entries()) {
      const got = await ring.settle(ring.live[i % ring.live.length]!.get(key));
      if (got?.toString() !== key.toString().trim()) lost++;
    }
    assert.equal(lost, 0);
    const refused = noRefusals();
    for (const n of ring.nodes)
      for (const k of REFUSAL_REASONS) refused[k] += n.data.rules.stats[k];
    assert.deepEqual(refused, noRefusals());
  });

  test("a member far from the key is refused; owner and replicas are not; its copy still gets through", async () => {
    const ring = new SimRing(41);
    await ring.grow(40);
    assert.ok((await ring.converge(30_000)) >= 0);
    const key = Buffer.from("far-member".padEnd(32, "."));
    await ring.settle(
      ring.live[0]!.put({ key, value: Buffer.from("v1"), ttl: 600, replication: 0 }),
    );
    const pos = keyPosition(key);
    const holders = ring.holdersOf(key, ring.live.length);
    const [owner, receiver, third] = holders as [ChordNode, ChordNode, ChordNode];
    const rank = receiver.data.rules.ranks();
    const far = holders
      .slice(3)
      .reduce((a, b) => (rank(b.self.id, pos) > rank(a.self.id, pos) ? b : a));
    assert.ok(rank(far.self.id, pos) >= receiver.data.rules.window, "a member out of the window");

    // The far member holds a newer copy (as after a partition) and pushes it: refused.
    const cur = owner.data.getLocal(key)!;
    far.data.storeBatch([
      { key, rec: { ...cur, value: Buffer.from("v2"), version: cur.version + 1 } },
    ]);
    assert.equal(await ring.settle(far.data.push(receiver.self, copyOf(far, key), "handoff")), 1);
    assert.equal(valueAt(receiver, key), "v1");

    // Controls: the owner and the next replica push to the receiver.
    assert.equal(
      await ring.settle(owner.data.push(receiver.self, copyOf(owner, key), "handoff")),
      0,
    );
    assert.equal(
      await ring.settle(third.data.push(receiver.self, copyOf(third, key), "handoff")),
      0,
    );

    // The far copy is stranded there: the handoff writes it through the owner.
    await ring.clock.advance(SIM_OPTIONS.strandedScanMs * 3);
    for (const h of holders.slice(0, SIM_OPTIONS.replication))
      assert.equal(valueAt(h, key), "v2", `${h.self.addr} has the newest copy`);
    assert.equal(far.data.getLocal(key), null, "dropped at the far member once handed over");
  });

  test("a member's far-future version is refused everywhere and never wins a read", async () => {
    const ring = new SimRing(42);
    await ring.grow(12);
    assert.ok((await ring.converge(30_000)) >= 0);
    const key = Buffer.from("far-future".padEnd(32, "."));
    const put = (value: string, via: ChordNode) =>
      ring.settle(via.put({ key, value: Buffer.from(value), ttl: 600, replication: 0 }));
    await put("before", ring.live[3]!);
    const [owner, replica] = ring.holdersOf(key, 2) as [ChordNode, ChordNode];
    const now = ring.clock.now();
    const cur = owner.data.getLocal(key)!;
    const frozen = { ...cur, value: Buffer.from("frozen"), version: 1.7e308 };
    // The owner's own replica (placed to send it) sends it.
    replica.data.storeBatch([{ key, rec: frozen }]);
    assert.equal(valueAt(replica, key), "before", "not even stored locally");
    const from = { addr: replica.self.addr, ip: "n" };
    const res = await ring.settle(owner.data.acceptReplicas([{ key, rec: frozen }], from));
    assert.deepEqual(res, { stored: 0, refused: 1 });
    assert.equal(valueAt(owner, key), "before");
    for (const n of ring.live) assert.ok(n.data.versions.next(now) <= maxVersionAt(now));
    await put("after", ring.live[7]!);
    assert.equal((await ring.settle(ring.live[5]!.get(key)))?.toString(), "after");
  });
});
