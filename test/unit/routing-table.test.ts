import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import { distance } from "../../src/ring/id.js";
import { between } from "../../src/ring/interval.js";
import { type Peer, peerAt, RoutingTable } from "../../src/ring/routing-table.js";

const peer = (i: number): Peer => peerAt(`10.0.0.${i}:7000`);
const hexId = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString("hex"));

describe("routing table", () => {
  test("a node alone owns everything and has itself as successor", () => {
    const t = new RoutingTable(peer(1), 4);
    assert.ok(t.alone);
    assert.equal(t.successor().id, peer(1).id);
    fc.assert(fc.property(hexId, (pos) => t.owns(pos)));
  });

  test("setSuccessors drops self and duplicates and keeps r entries", () => {
    const t = new RoutingTable(peer(1), 3);
    t.setSuccessors([peer(2), peer(1), peer(2), peer(3), peer(4), peer(5)]);
    assert.deepEqual(
      t.successors.map((p) => p.addr),
      [peer(2), peer(3), peer(4)].map((p) => p.addr),
    );
  });

  test("ownership is (pred, self]; unknown without a predecessor", () => {
    const self = peer(1);
    const t = new RoutingTable(self, 3);
    t.setSuccessors([peer(2)]);
    assert.equal(t.owns(self.id), false, "no predecessor: no claim");
    t.setPredecessor(peer(3));
    fc.assert(
      fc.property(hexId, (pos) => {
        const inRange = pos === self.id || between(peer(3).id, pos, self.id);
        assert.equal(t.owns(pos), inRange);
      }),
    );
  });

  test("closestPreceding lists known peers in (self, pos), closest to pos first", () => {
    const self = peer(0);
    const others = Array.from({ length: 40 }, (_, i) => peer(i + 1));
    fc.assert(
      fc.property(
        hexId,
        fc.subarray(others, { minLength: 1 }),
        fc.integer({ min: 0, max: 255 }),
        (pos, known, at) => {
          const t = new RoutingTable(self, 4);
          t.setSuccessors(known.slice(0, 4));
          known.slice(4).forEach((p, i) => {
            t.setFingers((at + i) % 256, (at + i) % 256, p);
          });
          const got = t.closestPreceding(pos);
          const want = known
            .filter((p) => between(self.id, p.id, pos))
            .sort((a, b) => (distance(a.id, pos) < distance(b.id, pos) ? -1 : 1));
          assert.deepEqual(
            got.map((p) => p.id),
            [...new Set(want.map((p) => p.id))],
          );
        },
      ),
    );
  });

  test("removePeer forgets a peer everywhere", () => {
    const t = new RoutingTable(peer(1), 4);
    t.setSuccessors([peer(2), peer(3)]);
    t.setPredecessor(peer(2));
    t.setFingers(0, 200, peer(2));
    t.setFingers(201, 255, peer(3));
    assert.equal(t.removePeer(peer(2).id), true);
    assert.equal(t.predecessor, undefined);
    assert.deepEqual(
      t.successors.map((p) => p.addr),
      [peer(3).addr],
    );
    assert.equal(t.finger(5), undefined);
    assert.equal(t.finger(230)?.id, peer(3).id);
    assert.equal(t.removePeer(peer(9).id), false);
  });

  test("a peer's ID is SHA-256 of its address text", () => {
    for (const addr of ["127.0.0.1:6501", "[::1]:6501", "node.example:1"]) {
      assert.equal(peerAt(addr).id, createHash("sha256").update(addr).digest("hex"));
    }
    assert.notEqual(peerAt("127.0.0.1:6501").id, peerAt("127.0.0.1:6502").id);
  });
});
