// Nodes of one process reach each other in memory (net/local-exchange.ts), as
// `ringdht testnet` runs them: calls carry the caller's own address and open no
// socket; bodies pass the peer codec's checks both ways; deadlines, closed
// nodes, bans and the per-peer rate apply as over TCP; a node outside the
// exchange is still reached over TCP.

import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import { silentLogger } from "../../src/log.js";
import { LocalExchange } from "../../src/net/local-exchange.js";
import { TcpTransport, type TcpTransportOptions } from "../../src/net/tcp-transport.js";
import {
  PeerCallError,
  type PeerCaller,
  type PeerGuard,
  type PeerHandlers,
} from "../../src/ports.js";
import type { RpcName } from "../../src/wire/peer.js";

const HOST = "127.0.0.1";

const refuse = async (): Promise<never> => {
  throw new Error("not here");
};

function handlers(over: Partial<PeerHandlers> = {}): PeerHandlers {
  const names: RpcName[] = [
    "getNode",
    "getNeighbours",
    "notify",
    "getValue",
    "insertValue",
    "storeReplicas",
    "splitNode",
    "leaving",
    "newSuccessor",
    "syncRange",
    "syncBuckets",
    "mergeHint",
    "admitChallenge",
    "admit",
  ];
  const table = Object.fromEntries(names.map((n) => [n, refuse])) as unknown as PeerHandlers;
  return { ...table, ping: async () => ({}), ...over };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    assert.ok(err instanceof PeerCallError, `not a PeerCallError: ${String(err)}`);
    return err.code;
  }
}

describe("local exchange", { timeout: 30_000 }, () => {
  const open: TcpTransport[] = [];
  afterEach(async () => {
    for (const t of open.splice(0)) await t.close();
  });

  async function node(
    h: PeerHandlers,
    exchange: LocalExchange | undefined,
    opts: Partial<TcpTransportOptions> = {},
  ): Promise<TcpTransport> {
    const t = new TcpTransport(
      { log: silentLogger() },
      { listen: { host: HOST, port: 0 }, ...(exchange === undefined ? {} : { exchange }), ...opts },
    );
    open.push(t);
    await t.serve(h);
    return t;
  }

  test("a deadline that passes while the request waits for its turn is a timeout, not a crash", async () => {
    // Measured: a 10,000-node testnet starved its event loop past a call's deadline
    // before the call listened for it, and the unhandled rejection ended the process.
    const exchange = new LocalExchange();
    const b = await node(handlers(), exchange);
    const a = await node(handlers(), exchange);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      // Sent from one callback of a turn; the next callback of that turn runs past the
      // deadline, so the timer fires before the request's own turn comes.
      const { call } = await new Promise<{ call: Promise<unknown> }>((resolve) => {
        setImmediate(() => resolve({ call: a.call(b.address, "ping", {}, 1) }));
        setImmediate(() => {
          const until = performance.now() + 30;
          while (performance.now() < until);
        });
      });
      assert.equal(await codeOf(call), "timeout");
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  test("calls carry the caller's address, pass the codec and open no socket", async () => {
    const exchange = new LocalExchange();
    const seen: PeerCaller[] = [];
    const b = await node(
      handlers({
        getNeighbours: async (_, from) => {
          seen.push(from);
          return { pred: null, succs: [from.addr] };
        },
        // A reply that breaks its schema is refused by the caller, as over TCP.
        getNode: async () => ({ node: 7 }) as never,
      }),
      exchange,
    );
    const a = await node(handlers(), exchange);
    const reply = await a.call(b.address, "getNeighbours", {}, 5_000);
    assert.deepEqual(reply, { pred: null, succs: [a.address] });
    assert.deepEqual(seen, [{ addr: a.address, ip: HOST }]);
    assert.equal(
      await codeOf(a.call(b.address, "getNode", { pos: Buffer.alloc(32), hops: 0 }, 5_000)),
      "protocol",
    );
    assert.equal(await codeOf(a.call(b.address, "notify", {}, 5_000)), "remote");
    for (const t of [a, b]) {
      assert.equal(t.stats.outboundConnections, 0, "no socket was dialled");
      assert.equal(t.stats.inboundConnections, 0, "no socket was accepted");
    }
    assert.equal(exchange.calls, 3);
  });

  test("deadlines, closed nodes, bans and the rate apply", async () => {
    const exchange = new LocalExchange();
    let bannedIp = "";
    const guard: PeerGuard = { banned: (ip) => ip === bannedIp, report: () => {} };
    const slow = await node(handlers({ ping: () => new Promise(() => {}) }), exchange);
    const b = await node(handlers(), exchange, { guard, rate: { perSecond: 1, burst: 2 } });
    const a = await node(handlers(), exchange);
    assert.equal(await codeOf(a.call(slow.address, "ping", {}, 100)), "timeout");
    // The rate: a burst of 2, then refused.
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push(await codeOf(a.call(b.address, "ping", {}, 5_000)));
    assert.deepEqual(codes, ["ok", "ok", "remote", "remote"]);
    bannedIp = HOST;
    assert.equal(await codeOf(a.call(b.address, "ping", {}, 5_000)), "unreachable");
    bannedIp = "";
    await b.close();
    assert.equal(await codeOf(a.call(b.address, "ping", {}, 5_000)), "unreachable");
  });

  test("a node outside the exchange is reached over TCP (control)", async () => {
    const exchange = new LocalExchange();
    const outside = await node(handlers(), undefined);
    const a = await node(handlers(), exchange);
    assert.deepEqual(await a.call(outside.address, "ping", {}, 5_000), {});
    assert.equal(a.stats.outboundConnections, 1);
    assert.equal(exchange.calls, 0);
    // ... and reaches an exchange member over TCP too.
    assert.deepEqual(await outside.call(a.address, "ping", {}, 5_000), {});
    assert.equal(outside.stats.outboundConnections, 1);
  });
});
