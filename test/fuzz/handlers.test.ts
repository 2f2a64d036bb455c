// Fuzz target (c) in the test suite: 30 fresh 5-node simulated rings, each sent
// up to 60 schema-valid requests of every RPC type by a hostile peer (some
// while the nodes join); afterwards no handler crashed, nothing was left
// unhandled, the ring formed, every node answers ping and a client PUT/GET
// works. `npm run fuzz` sends over 10^5 such requests.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { NODE_RPC_NAMES } from "./arbitraries.js";
import { checkHandlerCase, handlerProperty, newHandlerStats } from "./handlers.js";
import { fuzzParams } from "./params.js";

test("peer handlers: hostile schema-valid requests crash nothing and the ring still serves", async () => {
  const stats = newHandlerStats();
  await fc.assert(handlerProperty(1, 40, stats), fuzzParams(30));
  for (const name of NODE_RPC_NAMES)
    assert.ok(stats.byRpc[name]! > 0, `no ${name} request was sent`);
  assert.equal(stats.rings, 30);
});

// Found by this fuzzer before callers were verified: n1 had just joined through
// n0 when a peer told it "n0 is leaving, with no successors"; n1 dropped its
// whole successor list and stayed alone for good. Now `leaving` speaks only for
// the caller (no sender field) and only a neighbour's counts: the same message
// from the hostile peer changes nothing.
test("a spoofed leaving right after a node joined no longer isolates it", async () => {
  await checkHandlerCase({
    ringSeed: 1,
    whileJoining: [{ to: 1, gapMs: 11, name: "leaving", body: { pred: null, succs: [] } }],
    requests: [{ to: 0, gapMs: 0, name: "ping", body: {} }],
  });
});
