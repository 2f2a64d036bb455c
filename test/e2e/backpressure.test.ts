// Backpressure against a spawned node: a client that floods GETs of a large
// value and never reads must cost the node bounded memory, while other clients
// keep being served.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { cleanupAll } from "../harness/cleanup.js";
import { floodGetsWithoutReading, processMemory } from "../harness/flood.js";
import { type NodeProcess, startNodeProcess } from "../harness/process.js";
import { RawClient } from "../harness/raw-socket.js";
import { keyOf, MAX_VALUE_BYTES, putMsg } from "../harness/wire.js";

/** Every test fails rather than hangs; teardown still runs (after hooks). */
const PER_TEST = { timeout: 20_000 };

const MAX_INFLIGHT = 64;
const MiB = 1024 * 1024;
// At most MAX_INFLIGHT replies of 65,531 bytes owed (4 MiB), perhaps held twice
// while coalesced; the rest is slack for the GC. Kernel socket buffers are not RSS.
const MEMORY_BUDGET = 64 * MiB;
// One write fills one 64 KiB read of the node: 1,820 GETs, 119 MB of replies.
const GETS_PER_WRITE = 1820;

after(cleanupAll);

describe("backpressure, spawned node", () => {
  let node: NodeProcess;
  let port: number;
  before(async () => {
    ({ node, apiPort: port } = await startNodeProcess(
      [
        "[dht]",
        "api_address = 127.0.0.1:0",
        "p2p_address = 127.0.0.1:0",
        `api_max_inflight = ${MAX_INFLIGHT}`,
        "",
      ].join("\n"),
    ));
  });

  test(
    `a client that never reads grows the node by less than ${MEMORY_BUDGET / MiB} MiB`,
    PER_TEST,
    async () => {
      const big = randomBytes(MAX_VALUE_BYTES);
      const bigKey = keyOf("e2e-flood-big");
      const probeKey = keyOf("e2e-flood-probe");
      const probeValue = Buffer.from("probe");
      const probeClient = await RawClient.connect(port);
      await probeClient.write(Buffer.concat([putMsg(bigKey, big), putMsg(probeKey, probeValue)]));
      assert.deepEqual(await probeClient.get(bigKey), big);
      const before = await processMemory(node.pid);

      const flood = await floodGetsWithoutReading({
        host: "127.0.0.1",
        port,
        key: bigKey,
        maxRequestBytes: 20e6,
        getsPerWrite: GETS_PER_WRITE,
        probe: async () => assert.deepEqual(await probeClient.get(probeKey), probeValue),
      });
      try {
        assert.equal(flood.stalled, true, `the node read all ${flood.requestBytes} request bytes`);
        const during = await processMemory(node.pid);
        const growth = during.peak - before.rss;
        assert.ok(
          growth < MEMORY_BUDGET,
          `node RSS grew by ${(growth / MiB).toFixed(0)} MiB (peak ${(during.peak / MiB).toFixed(0)} MiB) ` +
            `after ${(flood.requestBytes / MiB).toFixed(1)} MiB of GETs with api_max_inflight = ${MAX_INFLIGHT}`,
        );
      } finally {
        flood.socket.destroy();
        // The node goes on: the probe connection and a new one are served.
        assert.deepEqual(await probeClient.get(bigKey), big);
        const late = await RawClient.connect(port);
        assert.deepEqual(await late.get(bigKey), big);
        late.destroy();
        probeClient.destroy();
      }
    },
  );
});
