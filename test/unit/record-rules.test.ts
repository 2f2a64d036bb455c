// The rules for records from peers (chord/record-rules.ts): versions bounded
// by the clock plus the skew, deadlines clamped, and the position rule (the
// receiver serves the key, the sender is placed to send it) over a node's
// view of the ring. The data plane applying them: record-intake.test.ts.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import { CHORD_DEFAULTS, type ChordOptions } from "../../src/chord/options.js";
import {
  bounded,
  MAX_VERSION_SKEW_MS,
  maxVersionAt,
  RecordRules,
  ringKnows,
  windowOf,
} from "../../src/chord/record-rules.js";
import { RingDirectory } from "../../src/ring/directory.js";
import { type Id, keyPosition } from "../../src/ring/id.js";
import { between } from "../../src/ring/interval.js";
import { type Peer, peerAt, RoutingTable } from "../../src/ring/routing-table.js";
import { ManualClock } from "../../src/sim/index.js";
import { VersionClock } from "../../src/store/version.js";
import type { WireEntry, WireRecord } from "../../src/wire/peer.js";

const OPTS: ChordOptions = {
  ...CHORD_DEFAULTS,
  defaultStoreSeconds: 3600,
  maxStoreSeconds: 86_400,
  replication: 3,
  storeQuotaBytes: 1 << 24,
};
const R = OPTS.successorListLength;
const W = windowOf(R);
const YEAR_MS = 365 * 86_400_000;

const record = (now: number, over: Partial<WireRecord> = {}): WireRecord => ({
  value: Buffer.from("v"),
  version: now * 1000,
  deadline: now + 60_000,
  replication: 3,
  ...over,
});

/** A ring of n nodes, sorted by ID. */
function ring(n: number, tag = "n"): Peer[] {
  return Array.from({ length: n }, (_, i) => peerAt(`${tag}${i}:7000`)).sort((a, b) =>
    a.id < b.id ? -1 : 1,
  );
}

/** The nodes after `pos` clockwise, owner first. */
function holders(nodes: readonly Peer[], pos: Id): Peer[] {
  const at = nodes.findIndex((p) => p.id >= pos);
  const start = Math.max(at, 0);
  return nodes.map((_, i) => nodes[(start + i) % nodes.length]!);
}

/** Node `self` of the ring with a complete view: every node in its location cache. */
function view(nodes: readonly Peer[], self: Peer, known = nodes) {
  const table = new RoutingTable(self, R);
  const directory = new RingDirectory(8192);
  for (const p of known) directory.add(p);
  return { table, directory };
}

const keyAt = (pred: (pos: Id) => boolean): Buffer => {
  for (;;) {
    const key = randomBytes(32);
    if (pred(keyPosition(key))) return key;
  }
};

describe("record rules: versions and deadlines", () => {
  test("bounded() refuses versions past the clock + skew and clamps deadline and replication", () => {
    const now = 1_700_000_000_000;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.double({ min: 0, max: 1.7e308, noNaN: true }),
          fc.integer({ min: 0, max: 2 ** 52 }).map((n) => n),
          fc.integer({ min: -120_000, max: 120_000 }).map((d) => (now + d) * 1000),
        ),
        fc.oneof(fc.double({ min: 0, max: 1e300, noNaN: true }), fc.constant(now + 10 * YEAR_MS)),
        fc.integer({ min: 1, max: 255 }),
        (version, deadline, replication) => {
          const rec = record(now, { version, deadline, replication });
          const out = bounded(rec, now, OPTS);
          if (version > maxVersionAt(now)) return assert.equal(out, undefined);
          assert.ok(out !== undefined);
          assert.equal(out.version, version);
          assert.equal(out.deadline, Math.min(deadline, now + OPTS.maxStoreSeconds * 1000));
          assert.equal(out.replication, Math.min(replication, R));
          assert.equal(out.value, rec.value);
        },
      ),
    );
  });

  test("the bound is the HLC version of the clock plus the skew", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1_600_000_000_000, max: 2_000_000_000_000 }),
        fc.integer({ min: -3_600_000, max: MAX_VERSION_SKEW_MS }),
        (now, ahead) => {
          // A node whose clock is `ahead` ms ahead of ours issues versions we accept.
          assert.ok(new VersionClock().next(now + ahead) <= maxVersionAt(now));
          assert.ok(new VersionClock().next(now + MAX_VERSION_SKEW_MS + 1) > maxVersionAt(now));
        },
      ),
    );
  });
});

describe("record rules: position", () => {
  test("the location cache counts known nodes in [from, to) clockwise", () => {
    const hex = fc
      .uint8Array({ minLength: 32, maxLength: 32 })
      .map((b) => Buffer.from(b).toString("hex"));
    fc.assert(
      fc.property(fc.uniqueArray(hex, { maxLength: 30 }), hex, hex, (ids, from, to) => {
        const directory = new RingDirectory(64);
        for (const [i, id] of ids.entries()) directory.add({ id, addr: `x${i}:1` });
        const want =
          from === to ? 0 : ids.filter((id) => id === from || between(from, id, to)).length;
        assert.equal(directory.countIn(from, to), want);
      }),
    );
  });

  test("with a complete view, rank is the index among the key's holders", () => {
    const nodes = ring(40);
    const { table, directory } = view(nodes, nodes[0]!);
    const rules = new RecordRules({ clock: new ManualClock(), table, directory }, OPTS);
    const rank = rules.ranks();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const pos = keyPosition(Buffer.from(bytes));
        holders(nodes, pos).forEach((p, i) => {
          assert.equal(rank(p.id, pos), i);
        });
      }),
    );
  });

  test("a batch is accepted entry by entry: receiver and sender within the window", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 60 }),
        fc.nat(),
        fc.nat(),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        async (n, a, b, bytes) => {
          const nodes = ring(n, `r${n}-`);
          const key = Buffer.from(bytes);
          const pos = keyPosition(key);
          const order = holders(nodes, pos);
          const self = order[a % n]!;
          const sender = order[b % n]!;
          if (self.id === sender.id) return;
          const { table, directory } = view(nodes, self);
          const clock = new ManualClock();
          const rules = new RecordRules({ clock, table, directory }, OPTS);
          const rec = record(clock.now());
          const s = await rules.screen([{ key, rec }], sender);
          const selfIn = a % n < W;
          const senderIn = b % n < W;
          assert.equal(s.accepted.length, selfIn && senderIn ? 1 : 0);
          assert.equal(s.notServed, selfIn ? 0 : 1);
          assert.equal(s.misplaced, selfIn && !senderIn ? 1 : 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  test("honest senders of a 100-node ring: owner to replicas, split, leave, stranded holder", async () => {
    const nodes = ring(100, "h");
    const clock = new ManualClock();
    const rec = record(clock.now());
    for (let trial = 0; trial < 50; trial++) {
      const key = randomBytes(32);
      const order = holders(nodes, keyPosition(key));
      const pairs: [Peer, Peer][] = [
        ...order.slice(1, R).map((p): [Peer, Peer] => [order[0]!, p]), // owner -> replicas
        ...order.slice(1, R).map((p): [Peer, Peer] => [p, order[0]!]), // replica -> owner (give)
        [order[1]!, order[0]!], // split: successor -> new predecessor
        [order[0]!, order[1]!], // leave: node -> its successor
        [order[R + 2]!, order[0]!], // a holder pushed out by 3 joins hands back
      ];
      for (const [from, to] of pairs) {
        // The receiver knows only part of the ring: its neighbours and a few others.
        const known = nodes.filter((_, i) => i % 3 === 0 || nodes[i]!.id === from.id);
        const { table, directory } = view(nodes, to, known);
        const rules = new RecordRules({ clock, table, directory }, OPTS);
        const s = await rules.screen([{ key, rec }], from);
        assert.equal(s.accepted.length, 1, `${from.addr} -> ${to.addr}`);
      }
    }
  });

  test("a sender never heard of is checked once: a member is accepted, a stranger not", async () => {
    const nodes = ring(12);
    const self = nodes[0]!;
    const member = nodes[1]!;
    // Outsiders whose IDs fall in another node's range than ours.
    const outsider = (tag: string) => {
      for (let port = 1; ; port++) {
        const p = peerAt(`203.0.113.${tag}:${port}`);
        if (holders(nodes, p.id)[0]!.id !== self.id) return p;
      }
    };
    const stranger = outsider("9");
    const joined = outsider("10"); // known only to its successor so far
    const clock = new ManualClock();
    const { table, directory } = view(
      nodes,
      self,
      nodes.filter((p) => p.id !== member.id),
    );
    const looked: Id[] = [];
    const lookup = async (pos: Id) => {
      looked.push(pos);
      const node = pos === member.id ? member : holders(nodes, pos)[0]!;
      return { node, succs: [] };
    };
    // A settled ring, except that the joined node's successor already names it.
    const neighbours = async (of: Peer) => {
      const at = nodes.findIndex((p) => p.id === of.id);
      const pred = nodes[(at + nodes.length - 1) % nodes.length]!;
      const succ = nodes[(at + 1) % nodes.length]!;
      const named = of.id === holders(nodes, joined.id)[0]!.id ? joined : pred;
      return { pred: named.addr, succs: [succ.addr] };
    };
    const rules = new RecordRules(
      {
        clock,
        table,
        directory,
        isMember: (p) =>
          ringKnows(p, {
            self,
            lookup,
            neighbours,
            known: (q) => directory.has(q.id),
            owns: () => false,
          }),
      },
      OPTS,
    );
    const key = keyAt((pos) => holders(nodes, pos).slice(0, 3).includes(self));
    const entries: WireEntry[] = [{ key, rec: record(clock.now()) }];
    assert.equal((await rules.screen(entries, member)).accepted.length, 1);
    assert.equal((await rules.screen(entries, member)).accepted.length, 1);
    assert.deepEqual(looked, [member.id], "a member found is remembered");
    assert.equal(
      (await rules.screen(entries, joined)).accepted.length,
      1,
      "named by its successor",
    );
    const refused = await rules.screen(entries, stranger);
    assert.equal(refused.stranger, 1);
    assert.equal((await rules.screen(entries, stranger)).stranger, 1);
    assert.equal(looked.length, 3, "no second check within the cool-down");
  });

  test("no verdict while views are in flux: refused, not counted as a stranger", async () => {
    const nodes = ring(12);
    const self = nodes[0]!;
    const clock = new ManualClock();
    const { table, directory } = view(nodes, self);
    let port = 7000;
    while (holders(nodes, peerAt(`198.51.100.7:${port}`).id)[0]!.id === self.id) port++;
    const sender = peerAt(`198.51.100.7:${port}`);
    const owner = holders(nodes, sender.id)[0]!;
    // The owner's predecessor names another successor: a join in progress there.
    const rules = new RecordRules(
      {
        clock,
        table,
        directory,
        isMember: (p) =>
          ringKnows(p, {
            self,
            lookup: async () => ({ node: owner, succs: [] }),
            neighbours: async (of) =>
              of.id === owner.id
                ? { pred: nodes[(nodes.indexOf(owner) + 11) % 12]!.addr, succs: [] }
                : { pred: null, succs: ["198.51.100.8:7000"] },
            known: () => false,
            owns: () => true,
          }),
      },
      OPTS,
    );
    const s = await rules.screen([{ key: randomBytes(32), rec: record(clock.now()) }], sender);
    assert.deepEqual([s.accepted.length, s.unchecked, s.stranger], [0, 1, 0]);
  });

  test("a sender that cannot be checked now is refused, not counted as a stranger", async () => {
    const nodes = ring(5);
    const clock = new ManualClock();
    const { table, directory } = view(nodes, nodes[0]!);
    const rules = new RecordRules(
      { clock, table, directory, isMember: () => Promise.reject(new Error("no route")) },
      OPTS,
    );
    const s = await rules.screen(
      [{ key: randomBytes(32), rec: record(clock.now()) }],
      peerAt("198.51.100.1:7000"),
    );
    assert.deepEqual([s.accepted.length, s.unchecked, s.stranger], [0, 1, 0]);
  });

  test("a give outside the range asked for is refused", async () => {
    const nodes = ring(8);
    const self = nodes[3]!;
    const succ = nodes[4]!;
    const clock = new ManualClock();
    const { table, directory } = view(nodes, self);
    const rules = new RecordRules({ clock, table, directory }, OPTS);
    const range = { lo: nodes[2]!.id, hi: self.id };
    const inside = keyAt((pos) => holders(nodes, pos)[0]!.id === self.id);
    const outside = keyAt((pos) => holders(nodes, pos)[0]!.id === nodes[1]!.id);
    const rec = record(clock.now());
    const s = await rules.screen(
      [
        { key: inside, rec },
        { key: outside, rec },
      ],
      succ,
      range,
    );
    assert.equal(s.accepted.length, 1);
    assert.equal(s.accepted[0]!.key, inside);
    assert.equal(s.outside, 1);
  });
});
