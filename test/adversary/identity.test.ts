// Hostile peers against identity and membership, over the real peer protocol:
// forged hellos, requests before proving an address, notify without admission,
// forged proofs of work, forged leaving, and one IP trying to fill a range.
// Each test: the attack is refused or bounded; the victim keeps serving
// clients and loses no data; a legitimate control case in the same test works.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import { ApiClient } from "../../src/client/api-client.js";
import type { RingDhtNode } from "../../src/node.js";
import { solvePow } from "../../src/ring/pow.js";
import { cleanupAll } from "../harness/cleanup.js";
import {
  HostilePeer,
  hostileHandlers,
  type MemoryLine,
  RawConnection,
  startVictim,
} from "../harness/hostile-peer.js";

after(cleanupAll);

const T = { timeout: 30_000 };

async function client(node: RingDhtNode): Promise<ApiClient> {
  const c = await ApiClient.connect(node.apiAddress.host, node.apiAddress.port);
  after(() => c.close());
  return c;
}

/** PUT then GET through `node`; returns what the GET saw. */
async function putGet(node: RingDhtNode, key = randomBytes(32)): Promise<boolean> {
  const c = await client(node);
  const value = randomBytes(40);
  c.put(key, value, 600, 0);
  return (await c.get(key))?.equals(value) ?? false;
}

/** Polls `check` every 20 ms until true or `ms` passed. */
async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const logged = (lines: MemoryLine[], msg: string) => lines.filter((l) => l.msg === msg);

describe("identity: a caller is the address it proves", () => {
  test("a hello claiming another node's port is refused; the real node is served", T, async () => {
    const { node: victim, lines } = await startVictim();
    const honest = await HostilePeer.start(); // an honest peer here: proves its own address
    const key = randomBytes(32);
    assert.ok(await putGet(victim, key), "data before the attack");

    // Attack: claim the honest peer's port from the same IP, with a ticket it never sent.
    const raw = await RawConnection.open(victim.p2pAddress);
    await raw.forgedHello(1, Number(honest.address.split(":")[1]));
    const reply = await raw.nextFrame();
    assert.equal(reply?.t, 15, "the hello gets an error reply");
    assert.match(String(reply?.msg), /not proven|did not send/);
    await raw.closed;
    assert.equal(logged(lines, "peer refused").length, 1);

    // Control: the honest peer, proving its own address, is served.
    assert.deepEqual(await honest.call(victim.p2pAddress, "ping", {}), {});
    // The victim still serves clients and kept its data.
    const c = await client(victim);
    assert.ok((await c.get(key)) !== undefined, "data after the attack");
  });

  test("requests before a hello close the connection; prove is answered", T, async () => {
    const { node: victim } = await startVictim();
    const raw = await RawConnection.open(victim.p2pAddress);
    // Control on the same connection: prove is the one request answered before hello.
    await raw.request(1, "prove", { ticket: randomBytes(16) });
    const proved = await raw.nextFrame();
    assert.deepEqual(proved?.b, { mine: false });
    await raw.request(2, "getNeighbours", {});
    assert.equal(await raw.nextFrame(), undefined, "closed without an answer");
    assert.ok(await putGet(victim), "the victim still serves clients");
  });
});

describe("admission: taking over a range costs a proof of work", () => {
  test(
    "notify without admission is refused; a forged or replayed proof too; a real one works",
    T,
    async () => {
      const { node: victim, lines } = await startVictim(["pow_difficulty = 12"]);
      const key = randomBytes(32);
      assert.ok(await putGet(victim, key));
      let pushed = 0;
      const attacker = await HostilePeer.start(
        hostileHandlers({
          storeReplicas: async ({ entries }) => {
            pushed += entries.length;
            return { stored: entries.length };
          },
        }),
      );
      // 40 notifies without admission: no predecessor change, nothing pushed.
      const refusals = await Promise.all(
        Array.from({ length: 40 }, () =>
          attacker.call(victim.p2pAddress, "notify", {}).then(
            () => "accepted",
            (err: Error) => err.message,
          ),
        ),
      );
      assert.ok(
        refusals.every((r) => /admission required/.test(r)),
        refusals[0],
      );
      const pred = () => victim.chord.table.predecessor?.addr;
      assert.equal(pred(), undefined);
      // A made-up solution, and a solution for another address: refused and scored.
      const { challenge, bits } = await attacker.call(victim.p2pAddress, "admitChallenge", {});
      assert.equal(bits, 12);
      await assert.rejects(
        attacker.call(victim.p2pAddress, "admit", { challenge, solution: Buffer.alloc(8) }),
        /refused/,
      );
      const second = await attacker.call(victim.p2pAddress, "admitChallenge", {});
      const forOther = solvePow(second.challenge, "127.0.0.1:1", second.bits);
      await assert.rejects(
        attacker.call(victim.p2pAddress, "admit", {
          challenge: second.challenge,
          solution: forOther,
        }),
        /refused/,
      );
      assert.ok(victim.scores.score("127.0.0.1") > 0, "the failed proofs were scored");
      // A real solution admits (replaying it is refused: see the ban test below).
      const third = await attacker.call(victim.p2pAddress, "admitChallenge", {});
      const good = solvePow(third.challenge, attacker.address, third.bits);
      await attacker.call(victim.p2pAddress, "admit", {
        challenge: third.challenge,
        solution: good,
      });
      assert.equal(pushed, 0, "nothing was pushed before admission");

      // Control: with the real proof above, the same notify is taken (a legitimate joiner).
      // (A replayed solution is refused: see the ban test below.)
      await attacker.call(victim.p2pAddress, "notify", {});
      assert.equal(pred(), attacker.address);
      assert.ok(logged(lines, "predecessor changed").length >= 1);
    },
  );
});

describe("eviction: misbehaving IPs are banned", () => {
  test(
    "replayed and forged proofs ban the IP; its connections are refused, others served",
    T,
    async () => {
      const { node: victim, lines } = await startVictim(["pow_difficulty = 8"]);
      const key = randomBytes(32);
      assert.ok(await putGet(victim, key));
      const attacker = await HostilePeer.start(hostileHandlers(), {
        listen: { host: "127.0.0.3", port: 0 },
      });
      const { challenge, bits } = await attacker.call(victim.p2pAddress, "admitChallenge", {});
      const good = solvePow(challenge, attacker.address, bits);
      await attacker.call(victim.p2pAddress, "admit", { challenge, solution: good });
      // Replays of a used-up challenge, then made-up solutions: 40 points each, 100 bans.
      for (let i = 0; i < 3; i++)
        await attacker
          .call(victim.p2pAddress, "admit", { challenge, solution: good })
          .catch(() => undefined);
      const bans = victim.scores.bans();
      assert.equal(bans.length, 1, "one ban");
      assert.equal(bans[0]?.ip, "127.0.0.3");
      assert.equal(bans[0]?.offence, "failedProof");
      assert.equal(logged(lines, "peer banned").length, 1, "the ban is logged");
      // The banned IP is refused at connect: a fresh peer on it cannot even ping.
      const again = await HostilePeer.start(hostileHandlers(), {
        listen: { host: "127.0.0.3", port: 0 },
      });
      await assert.rejects(again.call(victim.p2pAddress, "ping", {}, 2_000));
      // Control: a peer from another IP is served, and clients still get their data.
      const other = await HostilePeer.start();
      assert.deepEqual(await other.call(victim.p2pAddress, "ping", {}), {});
      assert.ok((await (await client(victim)).get(key)) !== undefined);
    },
  );
});

describe("membership: leaving comes only from the node that leaves", () => {
  test("leaving from a non-neighbour changes nothing; GETs keep succeeding", T, async () => {
    const { node: a } = await startVictim();
    const { node: b } = await startVictim([], a.p2pAddress);
    await eventually(
      () =>
        a.chord.table.successor().addr === b.p2pAddress &&
        b.chord.table.successor().addr === a.p2pAddress,
      10_000,
      "a 2-node ring",
    );
    const keys = Array.from({ length: 20 }, () => randomBytes(32));
    for (const k of keys) assert.ok(await putGet(a, k));
    const attacker = await HostilePeer.start();
    // Ten a second for a second, naming nobody as pred and itself as the only successor.
    let failed = 0;
    const c = await client(b);
    for (let i = 0; i < 10; i++) {
      await attacker
        .call(a.p2pAddress, "leaving", { pred: null, succs: [attacker.address] })
        .catch(() => undefined);
      for (const k of keys.slice(i * 2, i * 2 + 2)) if ((await c.get(k)) === undefined) failed++;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(failed, 0, "GETs failed during the forged leaving");
    assert.equal(a.chord.table.successor().addr, b.p2pAddress, "a's successor unchanged");
    assert.equal(a.chord.table.predecessor?.addr, b.p2pAddress, "a's predecessor unchanged");

    // Control: b really leaving relinks a (it becomes alone) and no key is lost.
    await b.stop("test");
    await eventually(() => a.chord.table.alone, 5_000, "a relinked after b left");
    const ca = await client(a);
    for (const k of keys) assert.ok((await ca.get(k)) !== undefined, "a key lost after b left");
  });
});

describe("one IP cannot fill a range", () => {
  /**
   * Ten sybils on 127.0.0.2 pose as a ring: the victim joins through one, which names the
   * other nine as its successors. Returns how many of them the victim's successor list holds.
   */
  async function fill(maxIds: number): Promise<number> {
    const sybils: HostilePeer[] = [];
    /** Every sybil but the one answering, so each names the nine others. */
    const others = (me: number) => sybils.filter((_, j) => j !== me).map((s) => s.address);
    const handlers = (me: number) =>
      hostileHandlers({
        getNode: async () => ({ node: sybils[0]!.address, succs: others(0), hops: 1 }),
        getNeighbours: async () => ({ pred: null, succs: others(me) }),
        admitChallenge: async () => ({ challenge: randomBytes(16), bits: 0 }),
        admit: async () => ({}),
        splitNode: async () => ({ sent: 0 }),
        notify: async () => ({}),
        newSuccessor: async () => ({}),
      });
    for (let i = 0; i < 10; i++)
      sybils.push(await HostilePeer.start(handlers(i), { listen: { host: "127.0.0.2", port: 0 } }));
    const { node: victim } = await startVictim([`max_ids_per_ip = ${maxIds}`], sybils[0]!.address);
    const held = () =>
      victim.chord.table.successors.filter((p) => p.addr.startsWith("127.0.0.2:")).length;
    // Second-hand addresses enter once they answered a ping: give stabilization a few rounds.
    const want = Math.min(maxIds, 10);
    await eventually(() => held() >= want, 10_000, `${want} sybils in the successor list`);
    if (want < sybils.length) {
      // More sybils stay on offer: wait until later stabilization rounds were refused by the cap.
      const gate = victim.chord.gate.stats;
      const before = gate.capped;
      await eventually(() => gate.capped >= before + 3, 10_000, "three later refusals by the cap");
    }
    return held();
  }

  test("at most max_ids_per_ip IDs from one IP enter the successor list", T, async () => {
    assert.equal(await fill(2), 2, "the cap held");
    // Control: with a cap above the attack, all ten get in (the test would notice no cap).
    assert.equal(await fill(64), 10);
  });
});
