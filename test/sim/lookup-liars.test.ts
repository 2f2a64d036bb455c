// Lookups that tolerate liars, in simulation: ring members that lie in their
// GetNode answers (and one that also lies about its range) cannot make an
// honest node's lookup, nor a client's PUT/GET through an honest node, reach
// the wrong owner; the same GetNode without the checks does, which proves the
// liars bite. Wrong answers are reported against the liars only.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ChordNode } from "../../src/chord/chord-node.js";
import type { LookupStats } from "../../src/chord/lookup.js";
import type { Offence, PeerHandlers, PeerTransport } from "../../src/ports.js";
import { type Id, keyPosition } from "../../src/ring/id.js";
import { hostOf } from "../../src/ring/ip-group.js";
import { keyId } from "../../src/wire/key.js";
import { SimRing } from "./sim-ring.js";

/** How a liar answers, given the ring (for the truth it distorts) and its own honest handlers. */
type Lie = (ring: SimRing, self: string, honest: PeerHandlers) => Partial<PeerHandlers>;

/** The live node owning `pos`, by the definition. */
function ownerAt(ring: SimRing, pos: Id): ChordNode {
  const sorted = [...ring.live].sort((a, b) => (a.self.id < b.self.id ? -1 : 1));
  return sorted.find((n) => n.self.id >= pos) ?? sorted[0]!;
}

/** The live node `k` places after `node` on the ring. */
function after(ring: SimRing, node: ChordNode, k: number): ChordNode {
  const sorted = [...ring.live].sort((a, b) => (a.self.id < b.self.id ? -1 : 1));
  return sorted[(sorted.indexOf(node) + k) % sorted.length]!;
}

/** GetNode: "I own it", from wherever the liar is (answered directly). */
const claimsAll: Lie = (_ring, self) => ({
  getNode: async ({ hops }) => ({ node: self, succs: [], hops }),
});

/** GetNode: a live node two places past the true owner (plausible: it lies beyond the key). */
const misdirects: Lie = (ring) => ({
  getNode: async ({ pos, hops }) => {
    const wrong = after(ring, ownerAt(ring, pos.toString("hex")), 2);
    return { node: wrong.self.addr, succs: [], hops };
  },
});

/** GetNode: a live node half the ring away (a walk from there is long: another path is cheaper). */
const sendsFar: Lie = (ring) => ({
  getNode: async ({ pos, hops }) => {
    const wrong = after(ring, ownerAt(ring, pos.toString("hex")), Math.floor(ring.live.length / 2));
    return { node: wrong.self.addr, succs: [], hops };
  },
});

/** GetNode: "I own it"; GetNeighbours backs it up (its predecessor is its successor: the whole ring is its range). */
const claimsAllConsistently: Lie = (ring, self, honest) => ({
  ...claimsAll(ring, self, honest),
  getNeighbours: async (body, from) => {
    const nb = await honest.getNeighbours(body, from);
    return { ...nb, pred: nb.succs[0] ?? nb.pred };
  },
});

/** A ChordNode whose transport serves `lie` over its honest handlers. */
function spawnLiar(ring: SimRing, addr: string, via: ChordNode, lie: Lie) {
  const lying = (transport: PeerTransport): PeerTransport => ({
    address: transport.address,
    call: transport.call.bind(transport),
    serve: (handlers) => transport.serve({ ...handlers, ...lie(ring, addr, handlers) }),
    close: () => transport.close(),
  });
  return ring.create(addr, { wrap: lying, unguarded: true }).start([via.self.addr]);
}

interface Report {
  ip: string;
  offence: Offence;
  detail: string;
}

/** An honest ring of `honest` nodes, reports recorded, then `lies` join it as members. */
async function ringWithLiars(seed: number, honest: number, lies: Lie[]) {
  const ring = new SimRing(seed);
  const reports: Report[] = [];
  ring.guard = {
    banned: () => false,
    // Only what lookups report: concurrent joins make honest nodes look like other offenders.
    report: (ip, offence, detail) => {
      if (offence === "wrongAnswer") reports.push({ ip, offence, detail });
    },
  };
  await ring.grow(honest);
  const liars = new Set<string>();
  for (const [i, lie] of lies.entries()) {
    const addr = `liar${i}:7000`;
    liars.add(hostOf(addr)!);
    await ring.settle(spawnLiar(ring, addr, ring.live[i]!, lie));
  }
  assert.ok((await ring.converge(60_000)) >= 0, "ring did not converge");
  await ring.clock.advance(10_000); // fingers fill, liars among them
  const honestNodes = ring.live.filter((n) => !liars.has(hostOf(n.self.addr)!));
  return { ring, reports, liars, honestNodes };
}

const randomPos = (ring: SimRing): Id =>
  keyPosition(Buffer.from(Array.from({ length: 32 }, () => Math.floor(ring.random() * 256))));

const sum = (nodes: readonly ChordNode[], f: (s: LookupStats) => number) =>
  nodes.reduce((n, node) => n + f(node.stats), 0);

describe("lookups with lying peers", () => {
  test("an honest ring: one check per lookup, no extra path, nobody reported", async () => {
    const { ring, reports, honestNodes } = await ringWithLiars(41, 40, []);
    const stats = (f: (s: LookupStats) => number) => sum(honestNodes, f);
    const before = { lookups: stats((s) => s.lookups), local: stats((s) => s.local) };
    const checksBefore = stats((s) => s.checks);
    const troubleBefore = stats((s) => s.extraPaths + s.wrongAnswers + s.unverified);
    for (let i = 0; i < 400; i++) {
      const from = honestNodes[Math.floor(ring.random() * honestNodes.length)]!;
      const pos = randomPos(ring);
      const found = await ring.settle(from.lookup(pos));
      assert.equal(found.node.id, ownerAt(ring, pos).self.id);
    }
    // These and the fingers' lookups meanwhile: one GetNeighbours for each that left its node.
    const remote =
      stats((s) => s.lookups) - before.lookups - (stats((s) => s.local) - before.local);
    const checks = stats((s) => s.checks) - checksBefore;
    assert.equal(checks, remote, `${checks} checks for ${remote} remote lookups`);
    assert.equal(
      stats((s) => s.extraPaths + s.wrongAnswers + s.unverified),
      troubleBefore,
    );
    assert.deepEqual(reports, []);
  });

  test("lookups from honest nodes reach the true owner; unchecked GetNode does not", async () => {
    const { ring, reports, liars, honestNodes } = await ringWithLiars(42, 36, [
      claimsAll,
      misdirects,
      sendsFar,
      misdirects,
      claimsAllConsistently,
      sendsFar,
    ]);
    const lookups = 600;
    let wrongUnchecked = 0;
    // GetNeighbours and extra GetNode paths per lookup, when GetNode lied and when not.
    const cost = { lied: [0, 0, 0], straight: [0, 0, 0] };
    for (let i = 0; i < lookups; i++) {
      const from = honestNodes[Math.floor(ring.random() * honestNodes.length)]!;
      const pos = randomPos(ring);
      const truth = ownerAt(ring, pos).self.id;
      // Control: the same GetNode, its answer taken as it comes.
      const unchecked = await ring.settle(from.lookups.step(pos, 0));
      const lied = unchecked.node.id !== truth;
      if (lied) wrongUnchecked++;
      const { checks, extraPaths } = from.stats;
      const found = await ring.settle(from.lookup(pos));
      assert.equal(found.node.id, truth, `lookup ${i} from ${from.self.addr} found a wrong owner`);
      const c = lied ? cost.lied : cost.straight;
      c[0]! += 1;
      c[1]! += from.stats.checks - checks;
      c[2]! += from.stats.extraPaths - extraPaths;
    }
    const per = ([n, checks, paths]: number[]) =>
      `${(checks! / n!).toFixed(2)} GetNeighbours, ${(paths! / n!).toFixed(2)} extra paths`;
    console.log(
      `# ${liars.size} liars in ${ring.live.length} nodes: unchecked GetNode wrong ${wrongUnchecked}/${lookups}; ` +
        `checked lookup cost when GetNode lied: ${per(cost.lied)}; otherwise: ${per(cost.straight)}`,
    );
    assert.ok(cost.lied[2]! > 0, "no lookup took another path");
    assert.ok(wrongUnchecked >= lookups / 10, `only ${wrongUnchecked} unchecked answers wrong`);
    // Wrong answers are reported, and only against liars.
    const blamed = new Set(reports.map((r) => r.ip));
    for (const ip of blamed) assert.ok(liars.has(ip), `honest ${ip} reported`);
    assert.ok(reports.every((r) => r.offence === "wrongAnswer"));
    // Which liars a lookup meets depends on the fingers (which avoid nodes that lied to
    // the finger lookups): at least two of the six, of different kinds, in this ring.
    assert.ok(blamed.size >= 2, `only ${[...blamed].join(", ")} reported`);
  });

  test("client PUT and GET through honest nodes stay correct", async () => {
    const { ring, reports, liars, honestNodes } = await ringWithLiars(43, 30, [
      claimsAll,
      misdirects,
      claimsAll,
      misdirects,
    ]);
    // Entry nodes that joined last know little of the ring: their PUTs and GETs take GetNode.
    for (let i = 0; i < 4; i++) await ring.settle(ring.spawn(honestNodes[i]!).started);
    await ring.clock.advance(3_000);
    const entries = ring.live.slice(-4);
    const wrongBefore = sum(entries, (s) => s.wrongAnswers);
    const lookupsBefore = sum(entries, (s) => s.lookups);
    const keys = Array.from({ length: 150 }, (_, i) => Buffer.from(`liars ${i}`.padEnd(32, ".")));
    for (const [i, key] of keys.entries()) {
      const entry = entries[i % entries.length]!;
      await ring.settle(entry.put({ key, value: key.subarray(0, 9), ttl: 0, replication: 3 }));
    }
    for (const [i, key] of keys.entries()) {
      const entry = entries[(i + 1) % entries.length]!;
      const value = await ring.settle(entry.get(key));
      assert.deepEqual(value, key.subarray(0, 9), `key ${i} read wrong through ${entry.self.addr}`);
      // The owner by definition holds it: the write went to the right node.
      const owner = ownerAt(ring, keyPosition(key));
      assert.ok(owner.data.store.get(keyId(key), ring.clock.now()) !== undefined);
    }
    const lookups = sum(entries, (s) => s.lookups) - lookupsBefore;
    const wrong = sum(entries, (s) => s.wrongAnswers) - wrongBefore;
    console.log(
      `# PUT/GET of ${keys.length} keys: ${lookups} lookups, ${wrong} wrong answers caught`,
    );
    // The liars were met on the client path (so the checks, not luck, kept it correct).
    assert.ok(wrong > 0, "no lie was met");
    for (const r of reports) assert.ok(liars.has(r.ip), `honest ${r.ip} reported`);
  });
});
