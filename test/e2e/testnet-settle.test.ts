// What `ringdht testnet` waits for before it says "in one ring": every node's
// successor and predecessor right (misplacedNodes, settleTestnet). The control:
// one node's predecessor is set wrong by hand, the check counts it, and the
// ring's own upkeep puts it right again.

import assert from "node:assert/strict";
import { test } from "node:test";
import { silentLogger } from "../../src/log.js";
import { misplacedNodes, settleTestnet, startTestnet } from "../../src/testnet.js";

test("a small testnet settles; a wrong predecessor is counted, then repaired by upkeep", {
  timeout: 60_000,
}, async () => {
  const nodes = await startTestnet(
    { nodes: 8, host: "127.0.0.1", p2pBasePort: 0, apiBasePort: 0 },
    silentLogger(),
  );
  try {
    assert.equal(await settleTestnet(nodes, 30_000), 0, "consistent after the joins");

    const ring = [...nodes].sort((a, b) => (a.chord.self.id < b.chord.self.id ? -1 : 1));
    const victim = ring[4]!;
    const pred = victim.chord.table.predecessor;
    assert.equal(pred?.id, ring[3]!.chord.self.id);
    // A predecessor two steps back: the true one lies between it and the victim.
    victim.chord.table.setPredecessor(ring[2]!.chord.table.self);
    assert.equal(misplacedNodes(nodes), 1, "the wrong predecessor is noticed");

    assert.equal(await settleTestnet(nodes, 30_000), 0, "the true predecessor's notify repairs it");
    assert.equal(victim.chord.table.predecessor?.id, ring[3]!.chord.self.id);
  } finally {
    await Promise.all(nodes.map((n) => n.crash()));
  }
});

test("a one-node testnet is a consistent ring of one", { timeout: 30_000 }, async () => {
  const nodes = await startTestnet(
    { nodes: 1, host: "127.0.0.1", p2pBasePort: 0, apiBasePort: 0 },
    silentLogger(),
  );
  try {
    assert.equal(await settleTestnet(nodes, 5_000), 0);
  } finally {
    await Promise.all(nodes.map((n) => n.crash()));
  }
});
