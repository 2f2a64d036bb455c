// A large testnet in one process (issue: scale): the ring becomes consistent
// (every successor and predecessor right) and serves sampled keys from sampled
// nodes through their APIs, within two descriptors per node. Before lookups
// passed the hop limit back, such a testnet hung at 180 nodes; before a
// refused split restarted the join, 2,000 nodes left hundreds misplaced for a
// minute. Correctness only: how fast is measured by `npm run bench`.
// RING_TESTNET_NODES sets the size (2,000 by default).

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { test } from "node:test";
import { ApiClient } from "../../src/client/api-client.js";
import { silentLogger } from "../../src/log.js";
import type { RingDhtNode } from "../../src/node.js";
import { settleTestnet, startTestnet } from "../../src/testnet.js";
import { seededRandom } from "../harness/cluster.js";

const NODES = Number(process.env.RING_TESTNET_NODES ?? 2000);
const KEYS = 40;
const READERS = 3;
const SEED = Number(process.env.RING_TEST_SEED ?? Math.floor(Math.random() * 2 ** 32));

test(`${NODES} nodes in one process: one consistent ring that serves sampled keys (seed ${SEED})`, {
  timeout: 300_000,
}, async (t) => {
  const random = seededRandom(SEED);
  const pick = (nodes: readonly RingDhtNode[]) => nodes[Math.floor(random() * nodes.length)]!;
  const fdsBefore = readdirSync("/proc/self/fd").length;
  const started = performance.now();
  const nodes = await startTestnet(
    { nodes: NODES, host: "127.0.0.1", p2pBasePort: 0, apiBasePort: 0 },
    silentLogger(),
  );
  try {
    const joined = performance.now() - started;
    // Two listeners per node, and no peer connections between them.
    const fds = readdirSync("/proc/self/fd").length - fdsBefore;
    assert.ok(fds <= 2 * NODES + 50, `${fds} descriptors for ${NODES} nodes`);

    const wrong = await settleTestnet(nodes, 240_000);
    assert.equal(wrong, 0, `${wrong} nodes still misplaced after 240 s`);
    t.diagnostic(
      `joined in ${joined.toFixed(0)} ms, consistent after ${(performance.now() - started).toFixed(0)} ms; ${fds} descriptors`,
    );

    const missing: string[] = [];
    for (let k = 0; k < KEYS; k++) {
      const key = randomBytes(32);
      const value = randomBytes(100);
      const via = pick(nodes);
      const writer = await ApiClient.connect("127.0.0.1", via.apiAddress.port);
      try {
        writer.put(key, value, 600, 3);
        assert.deepEqual(await writer.get(key), value, `PUT ${k} acknowledged`);
      } finally {
        writer.close();
      }
      for (let r = 0; r < READERS; r++) {
        const reader = pick(nodes);
        const c = await ApiClient.connect("127.0.0.1", reader.apiAddress.port);
        try {
          const got = await c.get(key);
          if (!got?.equals(value)) missing.push(`key ${k} via ${reader.p2pAddress}`);
        } finally {
          c.close();
        }
      }
    }
    assert.deepEqual(missing, [], "every sampled key from every sampled node");
  } finally {
    await Promise.all(nodes.map((n) => n.crash()));
  }
});
