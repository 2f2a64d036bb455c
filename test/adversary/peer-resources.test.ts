// Hostile peers against the peer port's resources, over real sockets:
// unfinished frames (memory), slow frames (deadline), many connections from
// one IP (cap), and a request flood (rate limit). Each test: the attack is
// bounded; the victim keeps serving clients and loses no data; a legitimate
// control case in the same test works.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import { ApiClient } from "../../src/client/api-client.js";
import type { RingDhtNode } from "../../src/node.js";
import { PEER_MAX_PAYLOAD_BYTES } from "../../src/wire/peer.js";
import { cleanupAll } from "../harness/cleanup.js";
import { HostilePeer, RawConnection, startVictim } from "../harness/hostile-peer.js";

after(cleanupAll);

const T = { timeout: 60_000 };
const MiB = 1024 * 1024;

async function storeOne(
  node: RingDhtNode,
): Promise<{ client: ApiClient; key: Buffer; value: Buffer }> {
  const client = await ApiClient.connect(node.apiAddress.host, node.apiAddress.port);
  after(() => client.close());
  const key = randomBytes(32);
  const value = randomBytes(64);
  client.put(key, value, 600, 0);
  assert.deepEqual(await client.get(key), value);
  return { client, key, value };
}

/** Waits (polling every 20 ms) until `done`, or `ms` passed. */
async function settled(done: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!done() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}

/** The header of a frame announcing `length` payload bytes, and all but the last of them. */
function unfinishedFrame(length: number): Buffer {
  const out = Buffer.alloc(8 + length - 1, 0x61);
  out.writeUInt32BE(length, 0);
  out.writeUInt32BE(0, 4);
  return out;
}

describe("unfinished frames cannot hold the peer port's memory", () => {
  test("40 connections each holding a 4 MiB frame stay within the input budget", T, async () => {
    const budget = 16 * MiB; // room for 4 frames; 40 attackers (the bench runs the full 300)
    const { node: victim } = await startVictim(["limit_loopback = false"], undefined, {
      inputBudgetBytes: budget,
    });
    const { client, key, value } = await storeOne(victim);
    const frame = unfinishedFrame(PEER_MAX_PAYLOAD_BYTES);
    let peakHeld = 0;
    const sample = setInterval(() => {
      peakHeld = Math.max(peakHeld, victim.transport.stats.bufferedInput);
    }, 10);
    const conns: RawConnection[] = [];
    for (let i = 0; i < 40; i++) {
      const c = await RawConnection.open(victim.p2pAddress);
      conns.push(c);
      c.socket.write(frame);
    }
    // Every connection past the budget is dropped (for the budget, or by the hello deadline).
    const room = budget / PEER_MAX_PAYLOAD_BYTES;
    const open = () => conns.filter((c) => !c.isClosed).length;
    await settled(() => open() <= room, 30_000);
    clearInterval(sample);
    assert.ok(open() <= room, `${open()} connections still hold frames`);
    assert.ok(peakHeld <= budget, `held ${peakHeld} bytes of unfinished frames`);
    assert.ok(victim.transport.stats.budgetDrops > 0, "the budget dropped connections");
    // (RSS is measured on a separate victim process by `BENCH_ONLY=attack npm run bench`:
    // this process holds both ends.)
    // The victim serves clients and peers throughout, and lost nothing.
    assert.deepEqual(await client.get(key), value);
    const peer = await HostilePeer.start();
    assert.deepEqual(await peer.call(victim.p2pAddress, "ping", {}), {});
    for (const c of conns) c.destroy();
  });

  test("a frame that does not finish within the deadline closes its connection", T, async () => {
    const { node: victim, lines } = await startVictim([], undefined, { frameDeadlineMs: 300 });
    const { client, key, value } = await storeOne(victim);
    const slow = await RawConnection.open(victim.p2pAddress);
    await slow.write(unfinishedFrame(1000).subarray(0, 20));
    const started = Date.now();
    await slow.closed;
    const waited = Date.now() - started;
    assert.ok(waited >= 250 && waited < 5_000, `closed after ${waited} ms`);
    assert.ok(
      lines.some(
        (l) => l.msg === "dropping peer connection" && /unfinished/.test(String(l.reason)),
      ),
    );
    // Control: a connection that is idle between whole frames is not closed by the deadline.
    const honest = await HostilePeer.start();
    assert.deepEqual(await honest.call(victim.p2pAddress, "ping", {}), {});
    await new Promise((r) => setTimeout(r, 600)); // twice the frame deadline
    assert.equal(honest.transport.stats.openOutbound, 1, "an idle connection was closed");
    assert.deepEqual(await honest.call(victim.p2pAddress, "ping", {}), {});
    assert.equal(honest.transport.stats.outboundConnections, 1, "the same connection served");
    // A connection with no hello that asked a prove (a verifier's own) is closed once answered.
    const prover = await RawConnection.open(victim.p2pAddress);
    await prover.request(1, "prove", { ticket: randomBytes(16) });
    assert.ok((await prover.nextFrame()) !== undefined, "the prove was answered");
    await prover.closed;
    assert.deepEqual(await client.get(key), value);
  });
});

describe("one IP cannot take all peer connections", () => {
  test("connections past the per-IP cap are refused; other IPs still connect", T, async () => {
    const { node: victim } = await startVictim(["max_peer_connections_per_ip = 8"]);
    const { client, key, value } = await storeOne(victim);
    const conns = await Promise.all(
      Array.from({ length: 40 }, () => RawConnection.open(victim.p2pAddress)),
    );
    // Refused ones are closed as soon as the node accepts them; wait until the count settles.
    await settled(() => conns.filter((c) => !c.isClosed).length <= 8, 10_000);
    const open = conns.filter((c) => !c.isClosed).length;
    assert.equal(open, 8, `${open} connections open from one IP`);
    assert.ok(victim.transport.stats.refusedConnections >= 32);
    // Control: a peer on another IP is served, and clients get their data.
    const other = await HostilePeer.start(undefined, { listen: { host: "127.0.0.4", port: 0 } });
    assert.deepEqual(await other.call(victim.p2pAddress, "ping", {}), {});
    assert.deepEqual(await client.get(key), value);
    for (const c of conns) c.destroy();
  });
});

describe("a request flood is rate-limited per peer", () => {
  test("past the rate, requests are refused; another peer is served", T, async () => {
    const rate = { perSecond: 200, burst: 400 };
    const { node: victim } = await startVictim(["limit_loopback = false"], undefined, { rate });
    const { client, key, value } = await storeOne(victim);
    const flooder = await HostilePeer.start();
    const results = await Promise.all(
      Array.from({ length: 2000 }, () =>
        flooder.call(victim.p2pAddress, "ping", {}, 10_000).then(
          () => "ok",
          (err: Error) => err.message,
        ),
      ),
    );
    const ok = results.filter((r) => r === "ok").length;
    const limited = results.filter((r) => /rate limited/.test(r)).length;
    assert.ok(ok >= 400 && ok < 1000, `${ok} of 2000 pings served`);
    assert.equal(ok + limited, 2000);
    assert.ok(victim.transport.stats.rateLimited >= 1000);
    // Control: another peer's requests are not limited by the flooder's.
    const other = await HostilePeer.start();
    assert.deepEqual(await other.call(victim.p2pAddress, "ping", {}), {});
    assert.deepEqual(await client.get(key), value);
  });
});

describe("silent connections cannot hold every peer slot", () => {
  test("when all slots are taken, the oldest unproven connection gives way", T, async () => {
    const { node: victim } = await startVictim([], undefined, { maxConnections: 16 });
    const { client, key, value } = await storeOne(victim);
    const silent = await Promise.all(
      Array.from({ length: 16 }, () => RawConnection.open(victim.p2pAddress)),
    );
    // A proven peer still gets in: the oldest silent connection made room.
    const peer = await HostilePeer.start();
    assert.deepEqual(await peer.call(victim.p2pAddress, "ping", {}), {});
    assert.ok(victim.transport.stats.evicted >= 1);
    assert.ok(silent[0]!.isClosed || (await Promise.race([silent[0]!.closed.then(() => true)])));
    // Control: more silent connections never push out the proven one.
    const more = await Promise.all(
      Array.from({ length: 40 }, () => RawConnection.open(victim.p2pAddress)),
    );
    assert.deepEqual(await peer.call(victim.p2pAddress, "ping", {}), {});
    assert.equal(peer.transport.stats.outboundConnections, 1, "the proven connection stayed");
    assert.deepEqual(await client.get(key), value);
    for (const c of [...silent, ...more]) c.destroy();
  });
});
