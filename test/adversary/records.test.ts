// Hostile peers against the data plane, over the real peer protocol: records
// with far-future versions and deadlines years ahead, insertValue at a node
// that does not own the key, storeReplicas from a peer not placed to send it,
// and a member's poisoned anti-entropy `give` (chord/record-rules.ts).
// Each test: the attack is refused or bounded; the victim keeps serving
// clients and loses no data; a legitimate control case in the same test works.
// The hostile peers listen on 127.0.0.2, so a ban of their IP leaves the
// victims (127.0.0.1, scored like public addresses) linked to each other.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { maxVersionAt } from "../../src/chord/record-rules.js";
import { ApiClient } from "../../src/client/api-client.js";
import type { RingDhtNode } from "../../src/node.js";
import { type Id, keyPosition, nodeIdOf } from "../../src/ring/id.js";
import { betweenRightIncl } from "../../src/ring/interval.js";
import { solvePow } from "../../src/ring/pow.js";
import type { WireRecord } from "../../src/wire/peer.js";
import { cleanupAll } from "../harness/cleanup.js";
import {
  HostilePeer,
  hostileHandlers,
  type MemoryLine,
  startVictim,
} from "../harness/hostile-peer.js";

after(cleanupAll);

const T = { timeout: 60_000 };
const ELSEWHERE = { listen: { host: "127.0.0.2", port: 0 } };
const HOSTILE_IP = "127.0.0.2";
const YEAR_MS = 365 * 86_400_000;
/** max_store_duration of the victims (the default). */
const MAX_STORE_MS = 86_400_000;

async function client(node: RingDhtNode): Promise<ApiClient> {
  const c = await ApiClient.connect(node.apiAddress.host, node.apiAddress.port);
  after(() => c.close());
  return c;
}

/** Polls `check` every 20 ms until true or `ms` passed. */
async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const rec = (value: string, over: Partial<WireRecord> = {}): WireRecord => ({
  value: Buffer.from(value),
  version: Date.now() * 1000,
  deadline: Date.now() + 60_000,
  replication: 3,
  ...over,
});
/** The measured attack: a version no clock reaches, a deadline ten years ahead. */
const frozen = (value: string): WireRecord =>
  rec(value, { version: 1.7e308, deadline: Date.now() + 10 * YEAR_MS });

const held = (node: RingDhtNode, key: Buffer): string | undefined =>
  node.chord.data.getLocal(key)?.value.toString();
const offences = (lines: MemoryLine[], offence: string) =>
  lines.filter((l) => l.msg === "peer misbehaved" && l.offence === offence);
const clockUnmoved = (node: RingDhtNode): boolean =>
  node.chord.data.versions.next(Date.now()) <= maxVersionAt(Date.now());

/** A random key whose ring position satisfies `where`. */
function keyWhere(where: (pos: Id) => boolean): Buffer {
  for (;;) {
    const key = randomBytes(32);
    if (where(keyPosition(key))) return key;
  }
}

describe("records from peers: a victim alone", () => {
  test(
    "a far-future version cannot freeze a key; a deadline years ahead is clamped",
    T,
    async () => {
      const { node: victim, lines } = await startVictim();
      const c = await client(victim);
      const [key, other] = [randomBytes(32), randomBytes(32)];
      c.put(other, Buffer.from("kept"), 600);
      c.put(key, Buffer.from("before"), 600);
      assert.equal((await c.get(key))?.toString(), "before");
      const hostile = await HostilePeer.start(hostileHandlers(), ELSEWHERE);
      const to = victim.p2pAddress;

      // Control: an entry node's write with a deadline ten years ahead is stored, clamped.
      const long = rec("long", { deadline: Date.now() + 10 * YEAR_MS });
      const before = Date.now();
      assert.equal((await hostile.call(to, "insertValue", { key, rec: long })).stored, true);
      const deadline = victim.chord.data.getLocal(key)?.deadline ?? 0;
      assert.ok(deadline > before && deadline <= Date.now() + MAX_STORE_MS, `deadline ${deadline}`);

      // Attack: the measured storeReplicas, then the same record as an insertValue.
      const res = await hostile.call(to, "storeReplicas", { entries: [{ key, rec: frozen("x") }] });
      assert.deepEqual(res, { stored: 0, refused: 1 });
      const ins = await hostile.call(to, "insertValue", { key, rec: frozen("x"), strict: false });
      assert.equal(ins.stored, false);
      assert.equal(held(victim, key), "long", "neither was stored");
      assert.ok(clockUnmoved(victim), "nor moved the version clock");
      assert.equal(offences(lines, "impossibleClaim").length, 2, "each was reported");
      assert.ok(victim.scores.score(HOSTILE_IP) > 90, "at the edge of a ban (100)");

      // The victim serves on, and a later client PUT wins.
      c.put(key, Buffer.from("after"), 600);
      assert.equal((await c.get(key))?.toString(), "after");
      assert.equal((await c.get(other))?.toString(), "kept");
    },
  );

  test("a member's poisoned give and storeReplicas are refused entry by entry", T, async () => {
    const { node: victim, lines } = await startVictim();
    const c = await client(victim);
    const self = victim.chord.self;
    let gave = false;
    let asked = 0;
    const hostile = await HostilePeer.start(
      hostileHandlers({
        getNeighbours: async () => ({ pred: self.addr, succs: [self.addr] }),
        storeReplicas: async ({ entries }) => ({ stored: entries.length }),
        syncRange: async () =>
          gave
            ? { match: true, count: 0, buckets: [] }
            : { match: false, count: 3, buckets: new Array(64).fill(1) },
        syncBuckets: async () => {
          asked++;
          if (gave) return { give: [], want: [], more: false };
          gave = true;
          return { give, want: [], more: false };
        },
        // Every GET through the victim hears a version no clock reaches.
        getValue: async ({ key }) => ({ rec: frozen(`read ${key[0]}`), owner: false, fresh: true }),
      }),
      ELSEWHERE,
    );
    const hId = nodeIdOf(hostile.address);
    const ours = (pos: Id) => betweenRightIncl(hId, pos, self.id);
    const [mine, good, bad, long] = [0, 1, 2, 3].map(() => keyWhere(ours)) as Buffer[];
    const outside = keyWhere((pos) => !ours(pos));
    const give = [
      { key: mine!, rec: frozen("frozen") },
      { key: good!, rec: rec("given") },
      { key: outside, rec: rec("outside") },
      { key: bad!, rec: frozen("bad") },
    ];
    c.put(mine!, Buffer.from("mine"), 600);
    assert.equal((await c.get(mine!))?.toString(), "mine");

    // The hostile peer joins as a member: admitted by proof of work, then notify.
    const to = victim.p2pAddress;
    const { challenge, bits } = await hostile.call(to, "admitChallenge", {});
    const solution = solvePow(challenge, hostile.address, bits);
    await hostile.call(to, "admit", { challenge, solution });
    await hostile.call(to, "notify", {});
    assert.equal(victim.chord.table.predecessor?.addr, hostile.address);
    await eventually(() => held(victim, good!) !== undefined, 10_000, "anti-entropy ran");
    assert.ok(asked >= 1);

    // Control: the good entry of the give was taken, the rest refused and reported once.
    assert.equal(held(victim, good!), "given");
    assert.equal(held(victim, mine!), "mine", "a far-future version did not take over");
    assert.equal(held(victim, bad!), undefined);
    assert.equal(held(victim, outside), undefined, "outside the range asked for");
    assert.equal(offences(lines, "impossibleClaim").length, 1);
    assert.ok(clockUnmoved(victim));
    // Reads never let the member's far-future answers win.
    assert.equal((await c.get(mine!))?.toString(), "mine");

    // storeReplicas from the member (placed to send: it is the victim's replica).
    const entries = [
      { key: long!, rec: rec("long", { deadline: Date.now() + 10 * YEAR_MS }) },
      { key: mine!, rec: frozen("frozen again") },
    ];
    assert.deepEqual(await hostile.call(to, "storeReplicas", { entries }), {
      stored: 1,
      refused: 1,
    });
    assert.equal(held(victim, long!), "long");
    assert.ok((victim.chord.data.getLocal(long!)?.deadline ?? 0) <= Date.now() + MAX_STORE_MS);
    assert.equal(offences(lines, "impossibleClaim").length, 2);
    assert.ok(victim.scores.score(HOSTILE_IP) > 90, "at the edge of a ban (100)");

    // The victim serves on: no data lost, a new PUT wins.
    assert.equal((await c.get(mine!))?.toString(), "mine");
    assert.equal((await c.get(good!))?.toString(), "given");
    c.put(mine!, Buffer.from("after"), 600);
    assert.equal((await c.get(mine!))?.toString(), "after");
  });
});

describe("records from peers: a ring of three", () => {
  let nodes: RingDhtNode[] = [];
  let lines: MemoryLine[][] = [];

  const sorted = () => [...nodes].sort((a, b) => (a.chord.self.id < b.chord.self.id ? -1 : 1));
  /** The key's owner and its successors. */
  const holdersOf = (key: Buffer): RingDhtNode[] => {
    const ring = sorted();
    const pos = keyPosition(key);
    const at = Math.max(
      ring.findIndex((n) => n.chord.self.id >= pos),
      0,
    );
    return ring.map((_, i) => ring[(at + i) % ring.length]!);
  };
  const consistent = (): boolean => {
    const ring = sorted();
    return ring.every((n, i) => {
      const next = ring[(i + 1) % ring.length]!;
      const prev = ring[(i + ring.length - 1) % ring.length]!;
      const t = n.chord.table;
      return (
        t.successor().addr === next.p2pAddress &&
        t.predecessor?.addr === prev.p2pAddress &&
        n.chord.data.fresh
      );
    });
  };
  const everywhere = (key: Buffer, value: string) =>
    eventually(
      () => nodes.every((n) => held(n, key) === value),
      10_000,
      `every node holds ${value}`,
    );

  before(async () => {
    const first = await startVictim();
    const rest = [
      await startVictim([], first.node.p2pAddress),
      await startVictim([], first.node.p2pAddress),
    ];
    nodes = [first, ...rest].map((v) => v.node);
    lines = [first, ...rest].map((v) => v.lines);
    await eventually(consistent, 30_000, "the ring formed");
  });

  test("insertValue at a node that does not own the key stores nothing", T, async () => {
    const key = randomBytes(32);
    const [owner, replica, last] = holdersOf(key) as [RingDhtNode, RingDhtNode, RingDhtNode];
    const c = await client(replica);
    const hostile = await HostilePeer.start(hostileHandlers(), ELSEWHERE);

    for (const strict of [false, true, undefined]) {
      for (const at of [replica, last]) {
        const body = { key, rec: rec("sneaked"), ...(strict === undefined ? {} : { strict }) };
        const res = await hostile.call(at.p2pAddress, "insertValue", body);
        assert.deepEqual(res, { stored: false, owner: false });
      }
    }
    assert.ok(
      nodes.every((n) => held(n, key) === undefined),
      "no node stored it",
    );
    assert.equal(await c.get(key), undefined);

    // Control: the owner takes a write from any entry node, and copies it to its replicas
    // (retried as an entry node does while the new ring settles its predecessor checks).
    const write = rec("entry");
    let res = { stored: false, owner: false };
    for (let i = 0; i < 20 && !res.stored; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      res = await hostile.call(owner.p2pAddress, "insertValue", { key, rec: write });
    }
    assert.deepEqual(res, { stored: true, owner: true });
    await everywhere(key, "entry");
    // The ring serves on: a client PUT wins and reaches every replica.
    c.put(key, Buffer.from("final"), 600);
    assert.equal((await c.get(key))?.toString(), "final");
    await everywhere(key, "final");
  });

  test("storeReplicas from a peer not placed to send it is refused", T, async () => {
    const key = randomBytes(32);
    const [owner, replica] = holdersOf(key) as [RingDhtNode, RingDhtNode];
    const c = await client(owner);
    c.put(key, Buffer.from("honest"), 600);
    assert.equal((await c.get(key))?.toString(), "honest");
    // Control: the owner's own replication reached its replicas.
    await everywhere(key, "honest");

    // Attack: a newer version (within the skew), from a peer that is no member of the ring.
    const hostile = await HostilePeer.start(hostileHandlers(), ELSEWHERE);
    const forged = rec("forged", { version: (Date.now() + 5_000) * 1000 });
    for (const at of [replica, owner]) {
      const res = await hostile.call(at.p2pAddress, "storeReplicas", {
        entries: [{ key, rec: forged }],
      });
      assert.deepEqual(res, { stored: 0, refused: 1 });
    }
    assert.ok(
      nodes.every((n) => held(n, key) === "honest"),
      "no node took it",
    );
    // A check that cannot finish in time (a loaded machine) refuses without blame; the
    // hostile peer retrying once the check may run again is then reported.
    const i = nodes.indexOf(replica);
    for (let n = 0; n < 5 && offences(lines[i]!, "wrongAnswer").length === 0; n++) {
      await new Promise((r) => setTimeout(r, 2_100));
      const res = await hostile.call(replica.p2pAddress, "storeReplicas", {
        entries: [{ key, rec: forged }],
      });
      assert.deepEqual(res, { stored: 0, refused: 1 });
    }
    assert.ok(offences(lines[i]!, "wrongAnswer").length >= 1, "reported");
    assert.ok(replica.scores.score(HOSTILE_IP) > 0);
    assert.ok(!replica.scores.banned("127.0.0.1"), "the ring's own IP is not scored");

    // The ring serves on, and the owner's replication still works after the attack.
    assert.equal((await c.get(key))?.toString(), "honest");
    c.put(key, Buffer.from("later"), 600);
    assert.equal((await c.get(key))?.toString(), "later");
    await everywhere(key, "later");
  });
});
