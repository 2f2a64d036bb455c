// The TCP peer transport over real loopback sockets: calls both ways with real
// bodies, one pooled connection for 1,000 concurrent calls, the per-connection
// in-flight cap, remote errors, deadlines and late replies, unreachable and
// vanished peers, malformed input from raw sockets, idle close, and close().

import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { afterEach, before, describe, after as teardown, test } from "node:test";
import { crc32 } from "node:zlib";
import { Packr } from "msgpackr";
import { type Logger, silentLogger } from "../../src/log.js";
import { TcpTransport, type TcpTransportOptions } from "../../src/net/tcp-transport.js";
import { PeerCallError, type PeerCallFailure, type PeerHandlers } from "../../src/ports.js";
import {
  decodePayload,
  encodeReply,
  encodeRequest,
  PEER_MAX_PAYLOAD_BYTES,
  PEER_PROTOCOL_VERSION,
  PeerFrameDecoder,
  type RpcRes,
} from "../../src/wire/peer.js";
import { memoryLogger } from "../harness/controlled-dht.js";
import type { LogLine } from "../harness/process.js";

const HOST = "127.0.0.1";
const WARNING = "bad peer input, closing connection";
const LONG_MS = 20_000;

const notImplemented = async (): Promise<never> => {
  throw new Error("not implemented");
};

function handlers(over: Partial<PeerHandlers> = {}): PeerHandlers {
  return {
    ping: async () => ({}),
    getNode: notImplemented,
    getNeighbours: async () => ({ pred: null, succs: [] }),
    notify: notImplemented,
    getValue: notImplemented,
    insertValue: notImplemented,
    storeReplicas: notImplemented,
    splitNode: notImplemented,
    leaving: notImplemented,
    newSuccessor: notImplemented,
    syncRange: notImplemented,
    syncBuckets: notImplemented,
    mergeHint: notImplemented,
    admitChallenge: notImplemented,
    admit: notImplemented,
    ...over,
  };
}

/** Counts events; `reached(n)` resolves once n have happened. */
class Counter {
  count = 0;
  private waiters: { n: number; resolve: () => void }[] = [];
  hit(): void {
    this.count++;
    for (const w of this.waiters.filter((w) => this.count >= w.n)) w.resolve();
    this.waiters = this.waiters.filter((w) => this.count < w.n);
  }
  reached(n: number): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

/** A handler that holds every request until the test releases it. */
function holder<T>(): { handler: () => Promise<T>; held: ((v: T) => void)[]; calls: Counter } {
  const held: ((v: T) => void)[] = [];
  const calls = new Counter();
  const handler = () =>
    new Promise<T>((resolve) => {
      held.push(resolve);
      calls.hit();
    });
  return { handler, held, calls };
}

async function failsWith(p: Promise<unknown>, code: PeerCallFailure): Promise<PeerCallError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof PeerCallError, `not a PeerCallError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected a "${code}" failure, got a reply`);
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
function rawFrame(message: unknown): Buffer {
  const payload = packr.pack(message);
  return frameOf(payload);
}
function frameOf(payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
}

const warnings = (lines: LogLine[]) => lines.filter((l) => l.msg === WARNING);
const portOf = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));

describe("TCP peer transport", { timeout: 30_000 }, () => {
  const open: { close(): unknown }[] = [];

  async function start(
    h: PeerHandlers = handlers(),
    opts: Partial<TcpTransportOptions> & { log?: Logger } = {},
  ): Promise<TcpTransport> {
    const t = caller(opts);
    await t.serve(h);
    return t;
  }

  function caller(opts: Partial<TcpTransportOptions> & { log?: Logger } = {}): TcpTransport {
    const { log = silentLogger(), ...rest } = opts;
    const t = new TcpTransport({ log }, { listen: { host: HOST, port: 0 }, ...rest });
    open.push(t);
    return t;
  }

  /** A raw TCP server standing in for a peer; `onPayload` sees each frame it gets. */
  async function rawPeer(
    onPayload: (socket: Socket, payload: Buffer) => void,
  ): Promise<{ server: Server; port: number; sockets: Socket[] }> {
    const sockets: Socket[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      const decoder = new PeerFrameDecoder();
      socket.on("data", (chunk: Buffer) => decoder.push(chunk, (p) => onPayload(socket, p)));
      socket.on("error", () => {});
    });
    open.push({ close: () => server.close() });
    server.listen(0, HOST);
    await once(server, "listening");
    const bound = server.address();
    assert.ok(typeof bound === "object" && bound !== null);
    return { server, port: bound.port, sockets };
  }

  afterEach(async () => {
    for (const t of open.splice(0)) await t.close();
  });

  test("two transports call each other with real bodies", async () => {
    const seen: Buffer[] = [];
    const a = await start();
    const b = await start(
      handlers({
        getNode: async (body) => {
          seen.push(body.pos);
          return { node: b.address, succs: [a.address], hops: body.hops + 1 };
        },
      }),
    );
    assert.match(a.address, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(portOf(a.address), 0);
    assert.deepEqual(await b.call(a.address, "ping", {}, LONG_MS), {});
    const pos = Buffer.alloc(32, 7);
    const reply = await a.call(b.address, "getNode", { pos, hops: 3 }, LONG_MS);
    assert.deepEqual(reply, { node: b.address, succs: [a.address], hops: 4 });
    assert.ok(seen[0]?.equals(pos));
    assert.equal(a.stats.inboundConnections, 1);
    assert.equal(a.stats.outboundConnections, 1);
    // b's: a's pooled connection, and a's own one for proving b's hello (closed by b once
    // answered); b proved a's hello over its pooled connection to a.
    assert.equal(b.stats.inboundConnections, 2);
  });

  test("between listen() and serve(), requests get a remote error", async () => {
    const server = caller();
    await server.listen();
    assert.notEqual(portOf(server.address), 0);
    const client = caller();
    const err = await failsWith(client.call(server.address, "ping", {}, LONG_MS), "remote");
    assert.match(err.message, /not serving/);
    await server.serve(handlers());
    assert.deepEqual(await client.call(server.address, "ping", {}, LONG_MS), {});
    assert.equal(server.stats.inboundConnections, 1);
  });

  test("the advertised address replaces the bound one", async () => {
    const t = await start(handlers(), { advertise: "node.example:7000" });
    assert.equal(t.address, "node.example:7000");
  });

  test("a reply that breaks its schema fails as protocol and drops the connection", async () => {
    const badNode = { node: "no port", succs: [], hops: 0 } as unknown as RpcRes<"getNode">;
    const server = await start(handlers({ getNode: async () => badNode }));
    const { log, lines } = memoryLogger();
    const client = caller({ log });
    await client.call(server.address, "ping", {}, LONG_MS);
    const call = client.call(
      server.address,
      "getNode",
      { pos: Buffer.alloc(32), hops: 0 },
      LONG_MS,
    );
    await failsWith(call, "protocol");
    const [warning] = warnings(lines);
    assert.equal(warning?.peer, server.address);
    assert.match(String(warning?.reason), /malformed getNode reply/);
    assert.deepEqual(await client.call(server.address, "ping", {}, LONG_MS), {});
    assert.equal(client.stats.outboundConnections, 2);
    assert.equal(server.stats.inboundConnections, 2);
  });

  test("1,000 concurrent calls share one connection; replies in any order reach their calls", async () => {
    const batch: (() => void)[] = [];
    const server = await start(
      handlers({
        // Each turn's requests are answered in reverse order.
        getNode: (body) =>
          new Promise((resolve) => {
            const reply = { node: `n${body.pos.readUInt16BE(0)}:1`, succs: [], hops: body.hops };
            if (batch.length === 0) {
              setImmediate(() => {
                for (const release of batch.splice(0).reverse()) release();
              });
            }
            batch.push(() => resolve(reply));
          }),
      }),
    );
    const client = caller();
    const order: number[] = [];
    const calls = Array.from({ length: 1000 }, (_, i) => {
      const pos = Buffer.alloc(32);
      pos.writeUInt16BE(i, 0);
      return client.call(server.address, "getNode", { pos, hops: i % 256 }, LONG_MS).then((r) => {
        order.push(i);
        return r;
      });
    });
    const replies = await Promise.all(calls);
    for (const [i, r] of replies.entries()) {
      assert.deepEqual(r, { node: `n${i}:1`, succs: [], hops: i % 256 });
    }
    assert.notDeepEqual(
      order,
      [...order].sort((x, y) => x - y),
      "replies came back in order",
    );
    assert.equal(server.stats.inboundConnections, 1);
    assert.equal(client.stats.outboundConnections, 1);
    assert.equal(client.stats.openOutbound, 1);
  });

  test("a connection has at most 256 requests in its handlers; the rest wait", async () => {
    const { handler, held, calls } = holder<Record<string, never>>();
    let instant = false;
    const server = await start(
      handlers({ ping: () => (instant ? Promise.resolve({}) : handler()) }),
    );
    const client = caller();
    const replies = Array.from({ length: 1000 }, () =>
      client.call(server.address, "ping", {}, LONG_MS),
    );
    await calls.reached(256);
    const prober = caller();
    await prober.call(server.address, "getNeighbours", {}, LONG_MS);
    assert.equal(calls.count, 256, "more than 256 requests were handed to handlers");
    instant = true;
    for (const release of held) release({});
    assert.equal((await Promise.all(replies)).length, 1000);
  });

  test("a handler that throws fails the call as remote with its message", async () => {
    const server = await start(
      handlers({
        getValue: async () => {
          throw new Error("disk on fire");
        },
      }),
    );
    const client = caller();
    const err = await failsWith(
      client.call(server.address, "getValue", { key: Buffer.alloc(32) }, LONG_MS),
      "remote",
    );
    assert.match(err.message, /disk on fire/);
    assert.deepEqual(await client.call(server.address, "ping", {}, LONG_MS), {});
    assert.equal(server.stats.inboundConnections, 1);
  });

  test("a call past its deadline fails as timeout; the late reply is ignored", async () => {
    const { handler, held, calls } = holder<RpcRes<"getNeighbours">>();
    const server = await start(handlers({ getNeighbours: handler }));
    const { log, lines } = memoryLogger();
    const client = caller({ log });
    const started = performance.now();
    await failsWith(client.call(server.address, "getNeighbours", {}, 100), "timeout");
    assert.ok(performance.now() - started >= 95, "timed out before its deadline");
    await calls.reached(1);
    held[0]?.({ pred: null, succs: [] });
    assert.deepEqual(await client.call(server.address, "ping", {}, LONG_MS), {});
    assert.ok(lines.some((l) => l.msg === "late peer reply ignored"));
    assert.equal(client.stats.protocolErrors, 0);
    assert.equal(client.stats.outboundConnections, 1);
    assert.equal(server.stats.inboundConnections, 1);
  });

  test("a port nobody listens on is unreachable at once, and each call dials again", async () => {
    const { server, port } = await rawPeer(() => {});
    await new Promise((resolve) => server.close(resolve));
    const client = caller();
    const started = performance.now();
    const err = await failsWith(client.call(`${HOST}:${port}`, "ping", {}, LONG_MS), "unreachable");
    assert.match(err.message, /ECONNREFUSED/);
    assert.ok(performance.now() - started < 2000, "took too long to fail");
    assert.equal(client.stats.openOutbound, 0);
    await failsWith(client.call(`${HOST}:${port}`, "ping", {}, LONG_MS), "unreachable");
    assert.equal(client.stats.outboundConnections, 2);
    await failsWith(client.call("no-port", "ping", {}, LONG_MS), "unreachable");
  });

  test("a peer that goes away fails pending calls; the next call reaches its successor", async () => {
    const { handler, calls } = holder<RpcRes<"getNeighbours">>();
    const first = await start(handlers({ getNeighbours: handler }));
    const client = caller();
    const pending = client.call(first.address, "getNeighbours", {}, LONG_MS);
    await calls.reached(1);
    await first.close();
    await failsWith(pending, "unreachable");
    const second = await start(handlers(), { listen: { host: HOST, port: portOf(first.address) } });
    assert.equal(second.address, first.address);
    assert.deepEqual(await client.call(first.address, "ping", {}, LONG_MS), {});
    assert.equal(client.stats.outboundConnections, 2);
  });

  test("an idle pooled connection closes after idleMs; the next call dials again", async () => {
    const peer = await rawPeer((socket, payload) => {
      const msg = decodePayload(payload);
      const hello = msg.kind === "request" && msg.name === "hello";
      socket.write(encodeReply(msg.id, hello ? { seenAs: "127.0.0.1:1" } : {}));
    });
    const client = caller({ idleMs: 50 });
    const to = `${HOST}:${peer.port}`;
    await client.call(to, "ping", {}, LONG_MS);
    const [socket] = peer.sockets;
    assert.ok(socket !== undefined);
    await once(socket, "end");
    assert.equal(client.stats.openOutbound, 0);
    await client.call(to, "ping", {}, LONG_MS);
    assert.equal(peer.sockets.length, 2);
  });

  test("a request sent back to a caller is a protocol error", async () => {
    const peer = await rawPeer((socket) => socket.write(encodeRequest(1, "ping", {})));
    const { log, lines } = memoryLogger();
    const client = caller({ log });
    await failsWith(client.call(`${HOST}:${peer.port}`, "ping", {}, LONG_MS), "protocol");
    assert.match(String(warnings(lines)[0]?.reason), /request/);
    assert.equal(client.stats.openOutbound, 0);
  });

  test("close() fails pending calls as closed, is idempotent, and later calls fail at once", async () => {
    const { handler, calls } = holder<RpcRes<"getNeighbours">>();
    const server = await start(handlers({ getNeighbours: handler }));
    const client = caller();
    const pending = client.call(server.address, "getNeighbours", {}, LONG_MS);
    await calls.reached(1);
    const closing = [client.close(), client.close()];
    await failsWith(pending, "closed");
    await Promise.all(closing);
    await client.close();
    await failsWith(client.call(server.address, "ping", {}, LONG_MS), "closed");
    await server.close();
    await server.close();
    assert.equal(server.stats.openInbound, 0);
    await failsWith(caller().call(server.address, "ping", {}, LONG_MS), "unreachable");
  });

  test("serve() rejects clearly when the port is taken", async () => {
    const first = await start();
    const second = caller({ listen: { host: HOST, port: portOf(first.address) } });
    await assert.rejects(second.serve(handlers()), /cannot listen for peers on .*EADDRINUSE/);
  });
});

describe("TCP peer transport with malformed input", { timeout: 30_000 }, () => {
  const { log, lines } = memoryLogger();
  let server: TcpTransport;
  let client: TcpTransport;
  before(async () => {
    server = new TcpTransport({ log }, { listen: { host: HOST, port: 0 } });
    await server.serve(handlers());
    client = new TcpTransport({ log: silentLogger() }, { listen: { host: HOST, port: 0 } });
    await client.call(server.address, "ping", {}, LONG_MS);
  });
  teardown(async () => {
    await client.close();
    await server.close();
  });

  const badCrc = encodeRequest(1, "ping", {});
  badCrc.writeUInt32BE((badCrc.readUInt32BE(4) + 1) >>> 0, 4);
  const oversized = Buffer.alloc(8);
  oversized.writeUInt32BE(PEER_MAX_PAYLOAD_BYTES + 1, 0);
  const cases: { name: string; bytes: Buffer; reason: RegExp }[] = [
    { name: "a bad checksum", bytes: badCrc, reason: /checksum/ },
    { name: "an oversized length", bytes: oversized, reason: /exceeds/ },
    { name: "unframed garbage", bytes: Buffer.from("GET / HTTP/1.1\r\n\r\n"), reason: /exceeds/ },
    {
      name: "a payload not MessagePack",
      bytes: frameOf(Buffer.from([0x92, 0x01])),
      reason: /MessagePack/,
    },
    {
      name: "an unknown type",
      bytes: rawFrame({ v: PEER_PROTOCOL_VERSION, t: 99, id: 1, b: {} }),
      reason: /unknown peer message type 99/,
    },
    {
      name: "a body against its schema",
      bytes: rawFrame({ v: PEER_PROTOCOL_VERSION, t: 2, id: 1, b: { pos: "x", hops: 0 } }),
      reason: /malformed getNode request/,
    },
    { name: "a reply nobody asked for", bytes: encodeReply(1, {}), reason: /reply frame/ },
  ];

  for (const c of cases) {
    test(`${c.name} closes that socket with a warning; others carry on`, async () => {
      const raw = tcpConnect({ host: HOST, port: portOf(server.address) });
      raw.on("error", () => {});
      await once(raw, "connect");
      const peer = `${HOST}:${raw.localPort}`;
      const before = warnings(lines).length;
      raw.write(c.bytes);
      await once(raw, "close");
      const [warning] = warnings(lines).slice(before);
      assert.equal(warning?.peer, peer);
      assert.match(String(warning?.reason), c.reason);
      assert.deepEqual(await client.call(server.address, "ping", {}, LONG_MS), {});
      assert.equal(client.stats.outboundConnections, 1);
    });
  }
});
