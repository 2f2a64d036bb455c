// Leaves relayed by neighbours (chord/neighbour-news.ts): a peer named as gone
// is dropped only when it is silent (its ping times out or cannot connect),
// never because a neighbour says so while it still answers, even with an error.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Departures } from "../../src/chord/departures.js";
import { NeighbourNews } from "../../src/chord/neighbour-news.js";
import { silentLogger } from "../../src/log.js";
import { PeerCallError, type PeerCallFailure, type PeerTransport } from "../../src/ports.js";
import { RingDirectory } from "../../src/ring/directory.js";
import { type Peer, peerAt, RoutingTable } from "../../src/ring/routing-table.js";
import { ManualClock } from "../../src/sim/manual-clock.js";

const SELF = peerAt("10.0.0.1:4000");
const NEIGHBOUR = peerAt("10.0.0.2:4000");
const NAMED = peerAt("10.0.0.3:4000");

function newsFor(
  table: RoutingTable,
  transport: PeerTransport,
  peerLeft: (p: Peer) => void,
): NeighbourNews {
  return new NeighbourNews(
    {
      log: silentLogger(),
      table,
      directory: new RingDirectory(16),
      departures: new Departures(new ManualClock()),
      transport,
      peerLeft,
    },
    { rpcTimeoutMs: 100 },
  );
}

/** Relays `left: [NAMED]` from a successor while NAMED's ping ends as `ping` says. */
async function relay(ping: "ok" | PeerCallFailure): Promise<Peer[]> {
  const table = new RoutingTable(SELF, 3);
  table.setSuccessors([NEIGHBOUR, NAMED]);
  const dropped: Peer[] = [];
  const transport = {
    address: SELF.addr,
    call: async () => {
      if (ping === "ok") return {};
      throw new PeerCallError(ping, `ping: ${ping}`);
    },
    serve: async () => {},
    close: async () => {},
  } as unknown as PeerTransport;
  const news = newsFor(table, transport, (p) => dropped.push(p));
  news.fromReply(NEIGHBOUR, { pred: null, succs: [NAMED.addr], left: [NAMED.addr] });
  await new Promise((r) => setImmediate(r));
  return dropped;
}

test("a relayed leave of a peer that answers, even with an error, drops nothing", async () => {
  for (const ping of ["ok", "remote", "closed", "protocol"] as const)
    assert.deepEqual(await relay(ping), [], ping);
});

test("control: a relayed leave of a silent peer drops it", async () => {
  for (const ping of ["timeout", "unreachable"] as const)
    assert.deepEqual(await relay(ping), [NAMED], ping);
});

test("a leave relayed by a peer that is not a neighbour is ignored", async () => {
  const table = new RoutingTable(SELF, 3);
  table.setSuccessors([NAMED]);
  let pinged = 0;
  const transport = {
    address: SELF.addr,
    call: async () => {
      pinged++;
      throw new PeerCallError("timeout", "ping: timeout");
    },
  } as unknown as PeerTransport;
  const news = newsFor(table, transport, () => assert.fail("dropped on a stranger's word"));
  news.fromReply(NEIGHBOUR, { pred: null, succs: [], left: [NAMED.addr] });
  await new Promise((r) => setImmediate(r));
  assert.equal(pinged, 0);
});
