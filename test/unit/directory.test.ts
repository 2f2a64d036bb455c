import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { RingDirectory } from "../../src/ring/directory.js";
import { between, betweenLeftIncl } from "../../src/ring/interval.js";
import { peerAt } from "../../src/ring/routing-table.js";

const hexId = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString("hex"));

describe("location cache", () => {
  test("successorOf and predecessorOf are the known nodes nearest a position on each side", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(500), { minLength: 1, maxLength: 30 }),
        hexId,
        (ns, pos) => {
          const d = new RingDirectory(100);
          const peers = ns.map((n) => peerAt(`10.1.${n >> 8}.${n & 255}:7000`));
          for (const p of peers) d.add(p);
          const succ = d.successorOf(pos)!;
          const pred = d.predecessorOf(pos)!;
          // No known node lies in [pos, succ) nor in (pred, pos).
          for (const p of peers) {
            assert.ok(p.id === succ.id || !betweenLeftIncl(pos, p.id, succ.id));
            assert.ok(!between(pred.id, p.id, pos));
          }
          assert.ok(pred.id !== pos || peers.length === 1);
        },
      ),
    );
    assert.equal(new RingDirectory(4).predecessorOf("0".repeat(64)), undefined);
  });
});
