// A hostile peer that speaks the real peer protocol: a TcpTransport of its own
// (so its hello is proven like any node's and it can send any well-formed
// message, with any field forged), plus raw sockets for what a transport would
// never send (forged hellos, unfinished frames, floods). Its handlers answer as
// the attacker chooses; by default it answers pings and knows no ring.
// Also: a small in-process ring of real nodes to attack, with memory logs.

import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { crc32 } from "node:zlib";
import { Packr } from "msgpackr";
import { pino } from "pino";
import { parseConfig } from "../../src/config/config.js";
import type { Logger } from "../../src/log.js";
import { TcpTransport, type TcpTransportOptions } from "../../src/net/tcp-transport.js";
import { type NodeDeps, RingDhtNode } from "../../src/node.js";
import type { PeerHandlers } from "../../src/ports.js";
import {
  encodeRequest,
  PEER_PROTOCOL_VERSION,
  type RpcName,
  type RpcReq,
  type RpcRes,
} from "../../src/wire/peer.js";
import { onCleanup } from "./cleanup.js";

const refuse = async (): Promise<never> => {
  throw new Error("not answering");
};

/** Handlers of a peer that answers pings and nothing else, unless told otherwise. */
export function hostileHandlers(over: Partial<PeerHandlers> = {}): PeerHandlers {
  return {
    ping: async () => ({}),
    getNode: refuse,
    getNeighbours: async () => ({ pred: null, succs: [] }),
    notify: refuse,
    getValue: refuse,
    insertValue: refuse,
    storeReplicas: refuse,
    splitNode: refuse,
    leaving: refuse,
    newSuccessor: refuse,
    syncRange: refuse,
    syncBuckets: refuse,
    mergeHint: refuse,
    admitChallenge: refuse,
    admit: refuse,
    ...over,
  };
}

export class HostilePeer {
  private constructor(readonly transport: TcpTransport) {}

  /** Listens on `host:port` (0: any) and answers with `handlers`. Closed at cleanupAll(). */
  static async start(
    handlers: PeerHandlers = hostileHandlers(),
    opts: Partial<TcpTransportOptions> = {},
  ): Promise<HostilePeer> {
    const transport = new TcpTransport(
      { log: quietLog() },
      { listen: { host: "127.0.0.1", port: 0 }, ...opts },
    );
    await transport.serve(handlers);
    onCleanup(() => transport.close());
    return new HostilePeer(transport);
  }

  get address(): string {
    return this.transport.address;
  }

  /** A request over the real protocol, from this peer's proven address. */
  call<K extends RpcName>(to: string, name: K, body: RpcReq<K>, timeoutMs = 5_000) {
    return this.transport.call(to, name, body, timeoutMs) as Promise<RpcRes<K>>;
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** A peer frame around any payload object (no schema check: anything goes). */
export function rawFrame(obj: unknown): Buffer {
  const payload = packr.pack(obj);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
}

/** A raw TCP connection to a peer port: bytes in, decoded frames out, close reported. */
export class RawConnection {
  private received = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  readonly closed: Promise<void>;
  isClosed = false;

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.waiter?.();
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.isClosed = true;
        this.waiter?.();
        resolve();
      }),
    );
    onCleanup(() => {
      socket.destroy();
    });
  }

  static async open(address: string): Promise<RawConnection> {
    const at = address.lastIndexOf(":");
    const socket = connect({ host: address.slice(0, at), port: Number(address.slice(at + 1)) });
    await once(socket, "connect");
    return new RawConnection(socket);
  }

  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => this.socket.write(bytes, () => resolve()));
  }

  /** Sends a well-formed request (checked against its schema). */
  request<K extends RpcName>(id: number, name: K, body: RpcReq<K>): Promise<void> {
    return this.write(encodeRequest(id, name, body));
  }

  /** A hello claiming `port` with a ticket nobody at that port knows. */
  forgedHello(id: number, port: number): Promise<void> {
    return this.request(id, "hello", { port, ticket: randomBytes(16) });
  }

  /** The next frame the node sends, decoded; undefined if the connection closed first. */
  async nextFrame(): Promise<Record<string, unknown> | undefined> {
    for (;;) {
      if (this.received.length >= 8) {
        const length = this.received.readUInt32BE(0);
        if (this.received.length >= 8 + length) {
          const payload = this.received.subarray(8, 8 + length);
          this.received = this.received.subarray(8 + length);
          return packr.unpack(payload) as Record<string, unknown>;
        }
      }
      if (this.isClosed) return undefined;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = undefined;
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export { PEER_PROTOCOL_VERSION };

/** One log line as the in-process node writes it (JSON). */
export type MemoryLine = Record<string, unknown> & { msg?: string; level?: number };

/** A logger that keeps every line, for asserting on bans and warnings. */
export function memoryLog(): { log: Logger; lines: MemoryLine[] } {
  const lines: MemoryLine[] = [];
  const log = pino(
    { level: "info", base: undefined },
    {
      write(line: string) {
        lines.push(JSON.parse(line) as MemoryLine);
      },
    },
  );
  return { log, lines };
}

function quietLog(): Logger {
  return memoryLog().log;
}

/** An in-process node on loopback with per-IP defenses on (as for a public address). */
export async function startVictim(
  extra: string[] = [],
  bootstrap?: string,
  peerLimits: NodeDeps["peerLimits"] = {},
): Promise<{ node: RingDhtNode; lines: MemoryLine[] }> {
  const text = [
    "[dht]",
    "api_address = 127.0.0.1:0",
    "p2p_address = 127.0.0.1:0",
    "http_address =",
    "stabilize_interval_ms = 100",
    "replication = 3",
    "pow_difficulty = 8",
    "limit_loopback = true",
    ...(bootstrap === undefined ? [] : [`bootstrapper = ${bootstrap}`]),
    ...extra,
    "",
  ].join("\n");
  const { config } = parseConfig(text, "(adversary test)");
  const { log, lines } = memoryLog();
  const node = await RingDhtNode.start(config, { log, peerLimits });
  onCleanup(() => node.crash());
  return { node, lines };
}
