// The admin endpoint on a real ring of three in-process nodes (docs/admin.md):
// /status, /ring, /metrics, /healthz, /readyz, bad paths and methods, the admin
// addresses peers learn from each other, and a busy port.

import assert from "node:assert/strict";
import { get as httpGet } from "node:http";
import { connect, createServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { Value } from "@sinclair/typebox/value";
import { NodeStatus, RingView } from "../../src/admin/status.js";
import { ApiClient } from "../../src/client/api-client.js";
import { formatAddress } from "../../src/net/address.js";
import type { RingDhtNode } from "../../src/node.js";
import { cleanupAll } from "../harness/cleanup.js";
import { loopbackConfig, startInProcessNode } from "../harness/in-process.js";

const PER_TEST = { timeout: 30_000 };

after(cleanupAll);

const http = (n: RingDhtNode): string => formatAddress(n.httpAddress!);

async function get(n: RingDhtNode, path: string, init?: RequestInit) {
  const res = await fetch(`http://${http(n)}${path}`, init);
  return { code: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
}

/** Polls `check` until it returns true or the deadline passes. */
async function until(what: string, check: () => Promise<boolean> | boolean, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const config = (...extra: string[]) =>
  loopbackConfig(
    "http_address = 127.0.0.1:0",
    "stabilize_interval_ms = 100",
    "pow_difficulty = 4",
    ...extra,
  );

describe("admin endpoint on a three-node ring", () => {
  const nodes: RingDhtNode[] = [];
  before(async () => {
    nodes.push(await startInProcessNode(config()));
    const via = nodes[0]!.p2pAddress;
    for (let i = 0; i < 2; i++)
      nodes.push(await startInProcessNode(config(`bootstrapper = ${via}`)));
    await until("every node ready, with two successors", () =>
      nodes.every((n) => n.readiness().ready && n.chord.table.successors.length === 2),
    );
  });

  test("/status: the node's ring neighbours, records, replication, version", PER_TEST, async () => {
    const c = await ApiClient.connect("127.0.0.1", nodes[1]!.apiAddress.port);
    for (let i = 0; i < 5; i++) c.put(Buffer.alloc(32, i), Buffer.from(`value ${i}`), 0, 0);
    assert.ok(await c.get(Buffer.alloc(32, 4)));
    c.close();
    for (const n of nodes) {
      const r = await get(n, "/status");
      assert.equal(r.code, 200);
      assert.match(r.type, /application\/json/);
      const s: unknown = JSON.parse(r.text);
      assert.ok(
        Value.Check(NodeStatus, s),
        [...Value.Errors(NodeStatus, s)].map((e) => e.message).join("; "),
      );
      assert.equal(s.id, n.chord.self.id);
      assert.equal(s.addresses.p2p, n.p2pAddress);
      assert.equal(s.addresses.http, http(n));
      assert.equal(s.addresses.api, formatAddress(n.apiAddress));
      assert.equal(s.state, "running");
      assert.equal(s.ready, true);
      assert.equal(s.version, "0.1.0");
      const others = nodes
        .filter((o) => o !== n)
        .map((o) => o.p2pAddress)
        .sort();
      assert.deepEqual(s.successors.map((x) => x.addr).sort(), others);
      assert.ok(s.predecessor !== null && others.includes(s.predecessor.addr));
      assert.ok(s.fingers.length >= 1);
      for (const f of s.fingers) assert.ok(f.ranges.every(([a, b]) => 0 <= a && a <= b && b < 256));
      assert.equal(s.replication.r, n.chord.table.r);
      assert.equal(s.ring.estimatedSize >= 2 && s.ring.estimatedSize <= 50, true);
    }
    // Every record is on every node (replication 3 on a ring of three).
    await until("five records on every node", async () => {
      for (const n of nodes) {
        const s = JSON.parse((await get(n, "/status")).text) as NodeStatus;
        if (s.records.count !== 5 || s.records.bytes <= 0) return false;
      }
      return true;
    });
  });

  // The successor answers every stabilize with its address, which is all a ring walk needs.
  test(
    "peers learn each other's admin address: each node knows its successor's",
    PER_TEST,
    async () => {
      await until("every first successor's http address known", async () => {
        for (const n of nodes) {
          const s = JSON.parse((await get(n, "/status")).text) as NodeStatus;
          for (const succ of s.successors.slice(0, 1)) {
            const peer = nodes.find((o) => o.p2pAddress === succ.addr)!;
            if (succ.http !== http(peer)) return false;
          }
        }
        return true;
      });
    },
  );

  test("/ring: the node itself, as the page and `ringdht ring` read it", PER_TEST, async () => {
    const r = await get(nodes[0]!, "/ring");
    const view: unknown = JSON.parse(r.text);
    assert.ok(Value.Check(RingView, view));
    assert.equal(view.source, "node");
    assert.deepEqual(
      view.nodes.map((x) => x.id),
      [nodes[0]!.chord.self.id],
    );
  });

  test("/metrics: Prometheus text with API, lookup, peer and record series", PER_TEST, async () => {
    const c = await ApiClient.connect("127.0.0.1", nodes[0]!.apiAddress.port);
    c.put(Buffer.alloc(32, 9), Buffer.from("metric"), 0, 0);
    assert.ok(await c.get(Buffer.alloc(32, 9)));
    assert.equal(await c.get(Buffer.alloc(32, 10)), undefined);
    c.close();
    const r = await get(nodes[0]!, "/metrics");
    assert.equal(r.code, 200);
    assert.match(r.type, /text\/plain/);
    const id = nodes[0]!.chord.self.id.slice(0, 8);
    /** The value of the series `name` whose labels include `labels` (any label order). */
    const value = (name: string, labels: Record<string, string> = {}): number => {
      const want = Object.entries({ ...labels, node: id }).map(([k, v]) => `${k}="${v}"`);
      const line = r.text.split("\n").find((l) => {
        const m = /^([a-z_]+)\{([^}]*)\} /.exec(l);
        return m !== null && m[1] === name && want.every((w) => m[2]!.split(",").includes(w));
      });
      assert.ok(line, `no series ${name} ${want.join(",")} in\n${r.text}`);
      return Number(line.slice(line.lastIndexOf(" ") + 1));
    };
    assert.ok(value("ringdht_api_requests_total", { type: "put", outcome: "ok" }) >= 1);
    assert.ok(value("ringdht_api_requests_total", { type: "get", outcome: "found" }) >= 1);
    assert.ok(value("ringdht_api_requests_total", { type: "get", outcome: "not_found" }) >= 1);
    assert.ok(value("ringdht_api_request_duration_seconds_count", { type: "get" }) >= 2);
    assert.ok(value("ringdht_lookup_hops_count") >= 1);
    assert.ok(value("ringdht_peer_calls_total", { type: "getNeighbours", outcome: "ok" }) >= 1);
    assert.ok(value("ringdht_peer_requests_total", { type: "getNeighbours", outcome: "ok" }) >= 1);
    assert.ok(value("ringdht_records") >= 1);
    assert.ok(value("ringdht_record_bytes") > 0);
    assert.equal(value("ringdht_ready"), 1);
    assert.equal(value("ringdht_banned_groups"), 0);
    const conns =
      value("ringdht_peer_connections", { direction: "outbound" }) +
      value("ringdht_peer_connections", { direction: "inbound" });
    assert.ok(conns >= 1, "a node of a formed ring holds peer connections");
    assert.match(r.text, /# TYPE ringdht_repair_records_total counter/);
  });

  test(
    "/healthz 200; /readyz 200 when ready, 503 with a reason when not fresh",
    PER_TEST,
    async () => {
      const n = nodes[2]!;
      assert.deepEqual(
        { code: (await get(n, "/healthz")).code, ready: await get(n, "/readyz") },
        { code: 200, ready: { code: 200, type: "text/plain", text: "ready\n" } },
      );
      n.chord.data.fresh = false; // as after a pause: catching up before serving
      try {
        const r = await get(n, "/readyz");
        assert.equal(r.code, 503);
        assert.match(r.text, /catching up/);
        const s = JSON.parse((await get(n, "/status")).text) as NodeStatus;
        assert.equal(s.ready, false);
        assert.equal(s.health, "catching-up");
      } finally {
        n.chord.data.fresh = true;
      }
    },
  );

  test(
    "event streams are capped: the 17th gets 503, and a closed one frees its place",
    PER_TEST,
    async () => {
      const n = nodes[1]!;
      const open = (): Promise<{ code: number; close: () => void }> =>
        new Promise((resolve, reject) => {
          const req = httpGet(
            { host: "127.0.0.1", port: n.httpAddress!.port, path: "/events" },
            (res) => {
              res.resume();
              resolve({ code: res.statusCode ?? 0, close: () => req.destroy() });
            },
          );
          req.on("error", reject);
        });
      const streams = [];
      for (let i = 0; i < 16; i++) streams.push(await open());
      // Control: the first sixteen were served as event streams.
      assert.deepEqual(new Set(streams.map((s) => s.code)), new Set([200]));
      const refused = await open();
      assert.equal(refused.code, 503);
      refused.close();
      streams.pop()!.close();
      let again = await open();
      for (let i = 0; i < 50 && again.code !== 200; i++) {
        again.close();
        await new Promise((r) => setTimeout(r, 20));
        again = await open();
      }
      assert.equal(again.code, 200, "a place freed by a closed stream is taken again");
      for (const s of [...streams, again]) s.close();
      assert.equal((await get(n, "/healthz")).code, 200);
    },
  );

  test("unknown paths 404, other methods 405, odd requests answered", PER_TEST, async () => {
    const n = nodes[0]!;
    assert.equal((await get(n, "/nothing")).code, 404);
    assert.equal((await get(n, "/status?node=nobody")).code, 404);
    const post = await get(n, "/status", { method: "POST", body: "x" });
    assert.equal(post.code, 405);
    assert.equal((await get(n, "/metrics", { method: "DELETE" })).code, 405);
    assert.equal((await get(n, "//status/../status?%zz")).code, 200);
    // A request line that is not HTTP at all: the connection is dropped, the node serves on.
    await new Promise<void>((resolve) => {
      const s = connect(n.httpAddress!.port, "127.0.0.1", () => {
        s.end("\x00\x01garbage\r\n\r\n");
      });
      s.on("close", () => resolve());
      s.on("error", () => resolve());
      s.resume();
    });
    assert.equal((await get(n, "/healthz")).code, 200);
  });
});

test("a busy admin port: start rejects with EADDRINUSE", PER_TEST, async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    await assert.rejects(
      startInProcessNode(loopbackConfig(`http_address = 127.0.0.1:${port}`)),
      (err: NodeJS.ErrnoException) => err.code === "EADDRINUSE",
    );
  } finally {
    blocker.close();
  }
});
