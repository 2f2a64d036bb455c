// `ringdht status` and `ringdht ring` as real CLI processes: against a 10-node
// testnet process serving one admin endpoint, against a ring of separate node
// processes each with its own endpoint (the walk follows the admin addresses the
// nodes learned from each other), and against nothing (exit status 3).

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, describe, test } from "node:test";
import type { NodeStatus } from "../../src/admin/status.js";
import { cleanupAll } from "../harness/cleanup.js";
import { type NodeProcess, runCli, startNodeProcess } from "../harness/process.js";
import { startTestnet, type TestnetProcess } from "../harness/testnet-process.js";

const PER_TEST = { timeout: 60_000 };

after(cleanupAll);

/** The node rows of `ringdht ring` output: [index, id prefix, p2p, http, records, health]. */
const nodeRows = (out: string): string[][] =>
  out
    .split("\n")
    .slice(1)
    .filter((l) => /^\s+\d+\s+[0-9a-f]{8}\s/.test(l))
    .map((l) => l.trim().split(/\s+/));

/** Whether the ids are in ring order: ascending except for one wrap. */
const inRingOrder = (ids: string[]): boolean =>
  ids.filter((id, i) => id > ids[(i + 1) % ids.length]!).length <= 1;

describe("ringdht ring and status against a 10-node testnet", () => {
  let net: TestnetProcess;
  before(async () => {
    net = await startTestnet(10, 60_000, ["--http", "127.0.0.1:0"]);
    assert.ok(net.http, "testnet printed no admin endpoint");
  });

  test("ring lists every node once, in ring order, with records and health", PER_TEST, async () => {
    const r = await runCli(["ring", "--http", net.http!]);
    assert.equal(r.status, 0, r.stderr + r.stdout.toString());
    const out = r.stdout.toString();
    const rows = nodeRows(out);
    assert.equal(rows.length, 10, out);
    const p2ps = new Set(rows.map((row) => row[2]));
    assert.equal(p2ps.size, 10, out);
    assert.ok(inRingOrder(rows.map((row) => row[1]!)), out);
    for (const row of rows) assert.match(row[4]!, /^\d+$/);
    assert.match(out, /^10 nodes, \d+ records \(with copies\), \d+ ready$/m);
  });

  test("status prints one node; --json is its status; --node picks another", PER_TEST, async () => {
    const text = await runCli(["status", "--http", net.http!]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout.toString(), /^node [0-9a-f]{8} \(ringdht \d+\.\d+\.\d+\), up \d+ s/);
    assert.match(text.stdout.toString(), /successors/);
    const json = await runCli(["status", "--http", net.http!, "--json", "--node", "3"]);
    assert.equal(json.status, 0, json.stderr);
    const s = JSON.parse(json.stdout.toString()) as NodeStatus;
    assert.equal(s.state, "running");
    assert.ok(s.successors.length > 0);
    const missing = await runCli(["status", "--http", net.http!, "--node", "99"]);
    assert.equal(missing.status, 1, missing.stderr);
  });

  test(
    "testnet /metrics: every node's series, told apart by the node label",
    PER_TEST,
    async () => {
      const text = await (await fetch(`http://${net.http}/metrics`)).text();
      const nodes = new Set(
        [...text.matchAll(/^ringdht_records\{node="([0-9a-f]{8})"\}/gm)].map((m) => m[1]),
      );
      assert.equal(nodes.size, 10, text.slice(0, 2000));
    },
  );
});

test("ring walks separate node processes through their own admin endpoints", PER_TEST, async () => {
  const base = [
    "[dht]",
    "api_address = 127.0.0.1:0",
    "p2p_address = 127.0.0.1:0",
    "http_address = 127.0.0.1:0",
    "stabilize_interval_ms = 100",
    "pow_difficulty = 4",
  ];
  const adminOf = async (node: NodeProcess): Promise<string> =>
    String((await node.waitForLine((l) => l.msg === "admin endpoint listening")).http);
  const p2pOf = async (node: NodeProcess): Promise<string> =>
    String((await node.waitForLine((l) => l.msg === "peer port listening")).p2p);
  const first = (await startNodeProcess(`${base.join("\n")}\n`)).node;
  const via = await p2pOf(first);
  const others = await Promise.all(
    [1, 2].map(
      async () =>
        (await startNodeProcess(`${[...base, `bootstrapper = ${via}`].join("\n")}\n`)).node,
    ),
  );
  const https = await Promise.all([first, ...others].map(adminOf));
  assert.equal(new Set(https).size, 3);
  // From any node's endpoint the walk reaches all three (each learns its successor's
  // admin address at its next stabilize): poll until it does.
  const deadline = Date.now() + 30_000;
  let last = "";
  for (;;) {
    const r = await runCli(["ring", "--http", https[1]!]);
    last = r.stdout.toString() + r.stderr;
    const rows = nodeRows(r.stdout.toString());
    if (r.status === 0 && rows.length === 3) {
      assert.deepEqual(new Set(rows.map((row) => row[3])), new Set(https), last);
      break;
    }
    if (Date.now() > deadline) assert.fail(`the walk never listed all three:\n${last}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});

test("status and ring exit 3 when the endpoint cannot be reached", PER_TEST, async () => {
  // A port that was just free: nothing listens there.
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  for (const cmd of ["status", "ring"]) {
    const r = await runCli([cmd, "--http", `127.0.0.1:${port}`]);
    assert.equal(r.status, 3, `${cmd}: ${r.stderr}`);
    assert.match(r.stderr, /cannot reach the admin endpoint at 127\.0\.0\.1:\d+: ECONNREFUSED/);
  }
  const bad = await runCli(["status", "--http", "not-an-address"]);
  assert.equal(bad.status, 2, bad.stderr);
});
