// What the logs say: a graceful leave is logged by the neighbours as "peer left"
// (info), never as the WARN "peer failed"; at debug level every API request
// gets one line with its type, key prefix, outcome and duration in µs.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { pino } from "pino";
import { ApiClient } from "../../src/client/api-client.js";
import type { RingDhtNode } from "../../src/node.js";
import { cleanupAll } from "../harness/cleanup.js";
import { type MemoryLine, memoryLog } from "../harness/hostile-peer.js";
import { loopbackConfig, startInProcessNode } from "../harness/in-process.js";

const PER_TEST = { timeout: 40_000 };

after(cleanupAll);

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const config = (...extra: string[]) =>
  loopbackConfig("stabilize_interval_ms = 100", "pow_difficulty = 4", "replication = 3", ...extra);

describe("a graceful leave", () => {
  test("its neighbours log 'peer left' at info and no 'peer failed'", PER_TEST, async () => {
    const nodes: { node: RingDhtNode; lines: MemoryLine[] }[] = [];
    // Eight nodes, successor lists of three: some peers know the leaver only as a finger
    // or deeper in their successor lists, not as a direct neighbour.
    for (let i = 0; i < 8; i++) {
      const { log, lines } = memoryLog();
      const via = nodes[0]?.node.p2pAddress;
      const node = await startInProcessNode(
        config(
          "successor_list_length = 3",
          ...(via === undefined ? [] : [`bootstrapper = ${via}`]),
        ),
        { log },
      );
      nodes.push({ node, lines });
    }
    await until("a formed ring (three successors each, fingers found)", () =>
      nodes.every(
        (n) =>
          n.node.chord.table.successors.length === 3 && n.node.chord.upkeepView.fingerPasses > 0,
      ),
    );
    // Records, so the leave hands over and the neighbours keep syncing replicas.
    const c = await ApiClient.connect("127.0.0.1", nodes[0]!.node.apiAddress.port);
    for (let i = 0; i < 20; i++) c.put(Buffer.alloc(32, i), Buffer.from(`v${i}`), 0, 0);
    assert.ok(await c.get(Buffer.alloc(32, 19)));
    c.close();

    const leaver = nodes[2]!;
    const gone = leaver.node.p2pAddress;
    await leaver.node.stop("leaving for the test");
    const rest = nodes.filter((n) => n !== leaver);
    await until("the others linked around it (three successors each, none the leaver)", () =>
      rest.every(
        (n) =>
          n.node.chord.table.successors.length === 3 &&
          n.node.chord.table.knownPeers().every((p) => p.addr !== gone),
      ),
    );
    // Then traffic through every remaining node, and an anti-entropy round everywhere.
    for (const n of rest) {
      const client = await ApiClient.connect("127.0.0.1", n.node.apiAddress.port);
      for (let i = 0; i < 20; i++) await client.get(Buffer.alloc(32, i));
      client.close();
    }
    const syncs = rest.map((n) => n.node.chord.ae.stats.syncs);
    await until("another anti-entropy round on every node", () =>
      rest.every((n, i) => n.node.chord.ae.stats.syncs > syncs[i]!),
    );
    const about = (l: MemoryLine) => l.peer === gone;
    const left = rest.filter((n) => n.lines.some((l) => about(l) && l.msg === "peer left"));
    assert.ok(left.length >= 2, "its predecessor and successor log 'peer left'");
    for (const n of rest)
      for (const l of n.lines.filter(about)) {
        if (l.msg === "peer left") assert.equal(l.level, 30);
        assert.notEqual(l.msg, "peer failed, routing around it", JSON.stringify(l));
        assert.ok((l.level ?? 0) < 40, `a warning about a peer that left: ${JSON.stringify(l)}`);
      }
  });
});

describe("API requests at debug level", () => {
  test("one line each: type, key prefix, outcome, µs", PER_TEST, async () => {
    const lines: MemoryLine[] = [];
    const log = pino(
      { level: "debug", base: undefined },
      { write: (line: string) => lines.push(JSON.parse(line) as MemoryLine) },
    );
    const node = await startInProcessNode(config(), { log });
    const c = await ApiClient.connect("127.0.0.1", node.apiAddress.port);
    const key = Buffer.from("ab12cd34".repeat(8), "hex");
    const missing = Buffer.from("0f0e0d0c".repeat(8), "hex");
    c.put(key, Buffer.from("value"), 0, 0);
    assert.deepEqual(await c.get(key), Buffer.from("value"));
    assert.equal(await c.get(missing), undefined);
    c.close();
    const requests = () => lines.filter((l) => l.msg === "API request");
    await until("three request lines", () => requests().length === 3);
    const seen = requests().map(({ type, key, outcome }) => ({ type, key, outcome }));
    assert.deepEqual(
      seen.sort((a, b) => String(a.outcome).localeCompare(String(b.outcome))),
      [
        { type: "get", key: "ab12cd34", outcome: "found" },
        { type: "get", key: "0f0e0d0c", outcome: "not_found" },
        { type: "put", key: "ab12cd34", outcome: "ok" },
      ],
    );
    for (const l of requests()) {
      assert.equal(l.level, 20);
      assert.ok(Number.isInteger(l.us) && (l.us as number) >= 0, JSON.stringify(l));
    }
  });
});
