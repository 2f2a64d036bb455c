// Lookups that tolerate liars, over the real protocol: a ring of three victims
// (127.0.0.1) and a member that joined properly (proof of work and all) from
// 127.0.0.2, then starts lying in GetNode: it claims to own every position.
// The victims' lookups still find the true owners (the same GetNode unchecked
// finds the liar), clients keep reading and writing through every victim, no
// value is lost, and the liar's IP, and only it, is scored for wrong answers.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import { ApiClient } from "../../src/client/api-client.js";
import type { RingDhtNode } from "../../src/node.js";
import type { PeerHandlers } from "../../src/ports.js";
import { type Id, keyPosition } from "../../src/ring/id.js";
import { betweenRightIncl } from "../../src/ring/interval.js";
import { misplacedNodes } from "../../src/testnet.js";
import { cleanupAll } from "../harness/cleanup.js";
import { startVictim } from "../harness/hostile-peer.js";

const LIAR_IP = "127.0.0.2";

async function waitFor(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The node owning `pos`, by the definition. */
function ownerAt(nodes: readonly RingDhtNode[], pos: Id): RingDhtNode {
  const sorted = [...nodes].sort((a, b) => (a.chord.self.id < b.chord.self.id ? -1 : 1));
  return sorted.find((n) => n.chord.self.id >= pos) ?? sorted[0]!;
}

/** Keys whose position lies in (lo, hi]. */
function keysIn(lo: Id, hi: Id, n: number): Buffer[] {
  const out: Buffer[] = [];
  while (out.length < n) {
    const key = randomBytes(32);
    if (betweenRightIncl(lo, keyPosition(key), hi)) out.push(key);
  }
  return out;
}

describe("adversary: a ring member lying in GetNode", () => {
  after(cleanupAll);

  test("lookups find the true owner, clients are served, the liar is scored", async () => {
    const a = await startVictim();
    const b = await startVictim([], a.node.p2pAddress);
    const c = await startVictim([], a.node.p2pAddress);
    const liar = await startVictim([`p2p_address = ${LIAR_IP}:0`], a.node.p2pAddress);
    const victims = [a.node, b.node, c.node];
    const all = [...victims, liar.node];
    await waitFor("a consistent ring", () => misplacedNodes(all) === 0);
    // Fingers fill (one per 50 ms run here), so the liar is a first hop of others' lookups.
    await new Promise((r) => setTimeout(r, 1_500));

    const client = await ApiClient.connect(a.node.apiAddress.host, a.node.apiAddress.port);
    // Keys of the liar's successor's range: from the others, GetNode goes through the liar.
    const succ = liar.node.chord.table.successor();
    const lied = keysIn(liar.node.chord.self.id, succ.id, 30);
    const elsewhere = keysIn(succ.id, liar.node.chord.self.id, 30);
    // Control before the attack: values stored through the API, across the ring.
    for (const key of [...lied, ...elsewhere]) client.put(key, key.subarray(0, 8));
    for (const key of [...lied, ...elsewhere])
      assert.deepEqual(await client.get(key), key.subarray(0, 8));

    // The attack: the liar's GetNode now answers "I own it", for any position.
    const handlers = Reflect.get(liar.node.transport, "handlers") as PeerHandlers;
    handlers.getNode = async ({ hops }) => ({ node: liar.node.p2pAddress, succs: [], hops });

    const origins = victims.filter((v) => v.chord.self.id !== succ.id);
    const started = Date.now();
    let unchecked = 0;
    let lookups = 0;
    // Long enough for a second proof 10 stabilize periods (1 s here) after the first.
    while (Date.now() - started < 2_500) {
      for (const origin of origins) {
        for (const key of lied.slice(0, 5)) {
          const pos = keyPosition(key);
          const truth = ownerAt(all, pos).chord.self.id;
          // Control: the same GetNode, unchecked, lands on the liar.
          const raw = await origin.chord.lookups.step(pos, 0);
          if (raw.node.id !== truth) unchecked++;
          const found = await origin.chord.lookup(pos);
          assert.equal(found.node.id, truth, "a checked lookup found the wrong owner");
          lookups++;
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(unchecked >= lookups / 2, `unchecked GetNode was wrong only ${unchecked}/${lookups}`);

    // Bounded: the liar's IP is scored for wrong answers by the victims it lied to; no victim is.
    const scored = origins.filter((v) => v.scores.score(LIAR_IP) > 0 || v.scores.banned(LIAR_IP));
    assert.ok(scored.length > 0, "no victim scored the liar");
    for (const v of all) assert.equal(v.scores.score("127.0.0.1"), 0, "a victim was scored");

    // Legitimate clients through every victim: old values intact, new writes land.
    for (const v of victims) {
      const api = await ApiClient.connect(v.apiAddress.host, v.apiAddress.port);
      for (const key of [...lied, ...elsewhere])
        assert.deepEqual(await api.get(key), key.subarray(0, 8), "a stored value was lost");
      const fresh = keysIn(liar.node.chord.self.id, succ.id, 5);
      for (const key of fresh) api.put(key, Buffer.from("new"));
      for (const key of fresh) assert.deepEqual(await api.get(key), Buffer.from("new"));
    }
    // Control: lookups that never pass the liar are answered as before, unchallenged.
    for (const key of elsewhere.slice(0, 5)) {
      const pos = keyPosition(key);
      const found = await a.node.chord.lookup(pos);
      assert.equal(found.node.id, ownerAt(all, pos).chord.self.id);
    }
    const lines = [a, b, c].flatMap((v) => v.lines);
    assert.ok(
      lines.some((l) => l.msg === "peer misbehaved" && l.offence === "wrongAnswer"),
      "no wrong answer logged",
    );
  });
});
