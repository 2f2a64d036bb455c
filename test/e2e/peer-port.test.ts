// Bad input on a node's peer port (frames: u32 length | u32 CRC-32 | MessagePack
// payload, docs/protocol.md): a bad checksum, garbage, and well-framed
// payloads that are no valid peer message. Each closes only that socket, with
// one warning naming the peer; the 2-node ring and the nodes' own connections
// to each other go on.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { crc32 } from "node:zlib";
import { Packr } from "msgpackr";
import { cleanupAll } from "../harness/cleanup.js";
import { Cluster, type ClusterNode, openSockets, putAndRead } from "../harness/cluster.js";
import type { LogLine } from "../harness/process.js";
import { keyOf } from "../harness/wire.js";

const PER_TEST = { timeout: 20_000 };
const WARNING = "bad peer input, closing connection";
const WARN_LEVEL = 40;

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** A peer frame around `payload`; `crcXor` != 0 corrupts the checksum. */
function peerFrame(payload: Buffer, crcXor = 0): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE((crc32(payload) ^ crcXor) >>> 0, 4);
  return Buffer.concat([head, payload]);
}

/** `promise`, or a failure naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** `prove` is the one request a node answers before a connection's hello is verified. */
const proveFrame = (id: number): Buffer =>
  peerFrame(packr.pack({ v: 2, t: 16, id, b: { ticket: randomBytes(16) } }));

/** A raw connection to a peer port that collects what the node sends and reports its close. */
class RawPeer {
  private received = Buffer.alloc(0);
  private onReceive: (() => void) | undefined;
  readonly closed: Promise<void>;
  isClosed = false;
  /** Our port, as the node's logs name this connection (kept: the socket forgets it on close). */
  readonly localPort: number;

  private constructor(readonly socket: Socket) {
    this.localPort = socket.localPort ?? 0;
    socket.on("data", (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.onReceive?.();
    });
    socket.on("error", () => {}); // a reset is one way for the node to close
    // Not events.once: that would reject on the 'error' a reset brings first.
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.isClosed = true;
        this.onReceive?.();
        resolve();
      }),
    );
  }

  static async connect(port: number): Promise<RawPeer> {
    const socket = connect({ host: "127.0.0.1", port, noDelay: true });
    await once(socket, "connect");
    return new RawPeer(socket);
  }

  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(bytes, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** The next whole frame the node sends, as its decoded payload (checksum verified). */
  async nextFrame(): Promise<unknown> {
    for (;;) {
      if (this.received.length >= 8) {
        const length = this.received.readUInt32BE(0);
        if (this.received.length >= 8 + length) {
          const payload = this.received.subarray(8, 8 + length);
          assert.equal(crc32(payload), this.received.readUInt32BE(4), "reply checksum");
          this.received = this.received.subarray(8 + length);
          return packr.unpack(payload);
        }
      }
      if (this.isClosed) throw new Error("closed before a whole frame arrived");
      await new Promise<void>((resolve) => {
        this.onReceive = resolve;
      });
      this.onReceive = undefined;
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

interface BadInput {
  name: string;
  bytes: Buffer;
  /** What the warning's reason must say. */
  reason: RegExp;
}

const BAD_INPUTS: readonly BadInput[] = [
  {
    name: "(a) a ping frame with a bad CRC",
    bytes: peerFrame(packr.pack({ v: 2, t: 1, id: 2, b: {} }), 0x0000_0100),
    reason: /checksum/,
  },
  {
    // "GET " read as a u32 length is 1.2 GB: refused before anything is buffered.
    name: "(b) garbage bytes (an HTTP request, then random bytes)",
    bytes: Buffer.concat([Buffer.from("GET / HTTP/1.1\r\nHost: ringdht\r\n\r\n"), randomBytes(64)]),
    reason: /exceeds/,
  },
  {
    name: "(c) a well-framed payload that is not MessagePack",
    bytes: peerFrame(Buffer.from([0x81, 0xa1])),
    reason: /not MessagePack/,
  },
  {
    name: "(c) a well-framed MessagePack map that is no peer message",
    bytes: peerFrame(packr.pack({ hello: "world", id: 3 })),
    reason: /envelope/,
  },
  {
    name: "(c) a well-framed envelope of unknown type 99",
    bytes: peerFrame(packr.pack({ v: 2, t: 99, id: 4, b: {} })),
    reason: /unknown peer message type 99/,
  },
  {
    name: "(c) a well-framed getNode request with a 5-byte position",
    bytes: peerFrame(packr.pack({ v: 2, t: 2, id: 5, b: { pos: Buffer.alloc(5), hops: 0 } })),
    reason: /malformed getNode/,
  },
  {
    name: "(c) a well-framed reply, though nothing was asked",
    bytes: peerFrame(packr.pack({ v: 2, t: 0, id: 6, b: {} })),
    reason: /no request sent/,
  },
];

const cluster = new Cluster({ stabilizeMs: 200 });

after(async () => {
  await cluster.stop();
  await cleanupAll();
});

const warnings = (node: ClusterNode): LogLine[] =>
  node.proc.lines.filter((l) => (l.level ?? 0) >= WARN_LEVEL);

describe("bad input on the peer port of a node in a 2-node ring", () => {
  let n0: ClusterNode;
  let n1: ClusterNode;

  before(
    async () => {
      try {
        n0 = await cluster.add();
        n1 = await cluster.add([n0.p2p]);
        await cluster.waitForSuccessors(10_000);
        // Each has called the other (join's split, then notify), so both connections exist.
        const linked = (node: ClusterNode, pred: ClusterNode) =>
          node.proc.waitForLine(
            (l) => l.msg === "predecessor changed" && l.predecessor === pred.p2p,
            10_000,
          );
        await Promise.all([linked(n0, n1), linked(n1, n0)]);
      } catch (err) {
        console.error(`ring start failed:\n${cluster.stderrTails()}`);
        throw err;
      }
    },
    { timeout: 30_000 },
  );

  BAD_INPUTS.forEach((bad, i) => {
    test(
      `${bad.name}: that socket is closed with one warning naming it; the ring goes on`,
      PER_TEST,
      async () => {
        try {
          const warningsBefore = warnings(n0).length;
          // Every socket both nodes hold (their connections to each other among them).
          const socketsBefore = [n0, n1].map((n) => openSockets(n.proc.pid));

          const peer = await RawPeer.connect(n0.p2pPort);
          // Control: the same socket is served while its input is good.
          await peer.write(proveFrame(1));
          const reply = await within(peer.nextFrame(), 5_000, "the prove reply");
          assert.deepEqual(reply, { v: 2, t: 0, id: 1, b: { mine: false } }, "prove reply");

          await peer.write(bad.bytes);
          await within(peer.closed, 5_000, "the node closing the socket after the bad input");

          const name = `127.0.0.1:${peer.localPort}`;
          const line = await n0.proc.waitForLine(
            (l) => l.msg === WARNING && l.peer === name,
            5_000,
          );
          assert.equal(line.level, WARN_LEVEL);
          assert.match(String(line.reason), bad.reason);
          assert.equal(warnings(n0).length, warningsBefore + 1, "exactly one new warning on n0");

          // The ring keeps working: PUT via node 0, GET via node 1.
          const key = keyOf(`peer-port-${i}`);
          const value = randomBytes(100);
          assert.deepEqual(await putAndRead(await n0.api(), key, value), value, "PUT via n0");
          assert.deepEqual(await (await n1.api()).get(key), value, "GET via n1");

          // The other node's connections were not touched.
          assert.deepEqual(warnings(n1), [], "n1 logged no warning");
          [n0, n1].forEach((n, at) => {
            const before = socketsBefore[at];
            if (before === undefined) return; // no /proc
            // Listeners, stdio and at least one connection to the other node.
            assert.ok(before.size >= 4, `${n.name} held only ${before.size} sockets`);
            const now = openSockets(n.proc.pid)!;
            const closed = [...before].filter((s) => !now.has(s));
            assert.deepEqual(closed, [], `${n.name} closed sockets other than ours`);
          });
        } catch (err) {
          console.error(`${bad.name} failed; node logs:\n${cluster.stderrTails()}`);
          throw err;
        }
      },
    );
  });
});
