// The peer transport over real TCP. Policy:
// - Outbound: one pooled connection per peer address, dialled on the first call
//   (concurrent first calls share it) and closed after `idleMs` with no call
//   pending. Calls carry u32 ids and each has its own deadline; a late reply is
//   ignored. A connection that drops fails its pending calls ("unreachable")
//   and leaves the pool, so the next call dials again. Connections only carry
//   requests one way: ours out, their replies back.
// - Inbound: each request goes to its handler from the table; replies leave in
//   any order. At most 256 requests per connection are handled at once; past
//   that, decoded requests wait and reading pauses, as it does while the send
//   buffer is full.
// - Writes queued in one event-loop turn leave in one socket write.
// - A peer that breaks the protocol gets one warning and its connection closed.

import { connect, createServer, type Server, type Socket } from "node:net";
import type { Logger } from "../log.js";
import {
  PeerCallError,
  type PeerCallFailure,
  type PeerHandlers,
  type PeerTransport,
} from "../ports.js";
import {
  checkReply,
  decodePayload,
  encodeError,
  encodeReply,
  encodeRequest,
  PEER_MAX_PAYLOAD_BYTES,
  PeerFrameDecoder,
  PeerProtocolError,
  type RpcName,
  type RpcReq,
  type RpcRes,
} from "../wire/peer.js";
import { type Address, formatAddress, parseAddress } from "./address.js";
import { CoalescingWriter } from "./coalescing-writer.js";

export const PEER_IDLE_MS = 20_000;
export const PEER_MAX_CONNECTIONS = 4096;
/** Requests handled at once per inbound connection before reading pauses. */
export const PEER_MAX_INFLIGHT = 256;
/** Bytes queued towards one peer before further calls to it fail at once. */
const MAX_OUTBOUND_BUFFERED_BYTES = 4 * PEER_MAX_PAYLOAD_BYTES;
const MAX_TIMER_MS = 2 ** 31 - 1;
export const PEER_WARNING = "bad peer input, closing connection";

export interface TcpTransportOptions {
  listen: Address;
  /** How peers reach us; defaults to the listen host with the bound port. */
  advertise?: string;
  maxConnections?: number;
  /** An outbound connection with no call pending this long is closed. */
  idleMs?: number;
}

export interface TcpTransportStats {
  /** Inbound connections accepted since listen(). */
  inboundConnections: number;
  /** Outbound connections dialled, reconnections included. */
  outboundConnections: number;
  openInbound: number;
  openOutbound: number;
  /** Connections closed because the peer broke the protocol. */
  protocolErrors: number;
}

/** What connections share with their transport. */
interface Context {
  log: Logger;
  idleMs: number;
  violation(peer: string, reason: string): void;
}

const timerMs = (ms: number): number => Math.min(Math.max(ms, 0), MAX_TIMER_MS);
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class TcpTransport implements PeerTransport {
  private readonly server: Server;
  private readonly ctx: Context;
  private readonly inbound = new Set<Socket>();
  private readonly pool = new Map<string, OutboundConnection>();
  private readonly counts = { inboundConnections: 0, outboundConnections: 0, protocolErrors: 0 };
  private handlers: PeerHandlers | undefined;
  private advertised: string;
  private listening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly deps: { log: Logger },
    private readonly opts: TcpTransportOptions,
  ) {
    this.advertised = opts.advertise ?? formatAddress(opts.listen);
    this.ctx = {
      log: deps.log,
      idleMs: timerMs(opts.idleMs ?? PEER_IDLE_MS),
      violation: (peer, reason) => {
        this.counts.protocolErrors++;
        deps.log.warn({ peer, reason }, PEER_WARNING);
      },
    };
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.maxConnections = opts.maxConnections ?? PEER_MAX_CONNECTIONS;
  }

  get address(): string {
    return this.advertised;
  }

  get stats(): TcpTransportStats {
    return { ...this.counts, openInbound: this.inbound.size, openOutbound: this.pool.size };
  }

  /** Binds the peer port (port 0 picks one); requests get "not serving" until serve(). */
  listen(): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(new Error("peer transport is closed"));
    this.listening ??= this.bind();
    return this.listening;
  }

  /** Answers peers with `handlers`, listening first if listen() was not called. */
  async serve(handlers: PeerHandlers): Promise<void> {
    if (this.handlers !== undefined) throw new Error("peer transport is already serving");
    this.handlers = handlers;
    await this.listen();
  }

  private bind(): Promise<void> {
    const { host, port } = this.opts.listen;
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => {
        const where = formatAddress(this.opts.listen);
        reject(new Error(`cannot listen for peers on ${where}: ${err.message}`, { cause: err }));
      };
      this.server.once("error", fail);
      this.server.listen(port, host, () => {
        this.server.off("error", fail);
        this.server.on("error", (err) => this.deps.log.error({ err }, "peer listener error"));
        this.advertised = this.opts.advertise ?? formatAddress({ host, port: this.boundPort() });
        this.deps.log.debug({ address: this.advertised }, "listening for peers");
        resolve();
      });
    });
  }

  call<K extends RpcName>(
    to: string,
    name: K,
    body: RpcReq<K>,
    timeoutMs: number,
  ): Promise<RpcRes<K>> {
    if (this.closing !== undefined) {
      return Promise.reject(new PeerCallError("closed", "peer transport is closed"));
    }
    const conn = this.connection(to);
    if (conn === undefined) {
      return Promise.reject(new PeerCallError("unreachable", `bad peer address "${to}"`));
    }
    return conn.call(name, body, timeoutMs);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    for (const conn of [...this.pool.values()]) conn.fail("closed", "peer transport closed");
    this.pool.clear();
    for (const socket of this.inbound) socket.destroy();
    this.inbound.clear();
    await this.listening?.catch(() => undefined);
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private boundPort(): number {
    const bound = this.server.address();
    return typeof bound === "object" && bound !== null ? bound.port : this.opts.listen.port;
  }

  private accept(socket: Socket): void {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    this.counts.inboundConnections++;
    this.inbound.add(socket);
    socket.once("close", () => this.inbound.delete(socket));
    new InboundConnection(socket, () => this.handlers, this.ctx);
  }

  /** The pooled connection to `to`, dialled now if there is none. */
  private connection(to: string): OutboundConnection | undefined {
    const pooled = this.pool.get(to);
    if (pooled !== undefined) return pooled;
    const addr = parseAddress(to);
    if (addr === undefined) return undefined;
    const conn = new OutboundConnection(to, addr, this.ctx, () => {
      if (this.pool.get(to) === conn) this.pool.delete(to);
    });
    this.pool.set(to, conn);
    this.counts.outboundConnections++;
    return conn;
  }
}

interface PendingCall {
  name: RpcName;
  resolve(body: unknown): void;
  reject(err: PeerCallError): void;
  timer: NodeJS.Timeout;
}

class OutboundConnection {
  private readonly socket: Socket;
  private readonly decoder = new PeerFrameDecoder();
  private readonly writer: CoalescingWriter;
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastError: Error | undefined;
  private retired = false;

  constructor(
    private readonly peer: string,
    addr: Address,
    private readonly ctx: Context,
    private readonly onRetire: () => void,
  ) {
    this.socket = connect({ host: addr.host, port: addr.port, noDelay: true, keepAlive: true });
    // Calls fail fast once too much is queued, so a full buffer needs no pause here.
    this.writer = new CoalescingWriter(this.socket, () => {});
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.socket.on("end", () => this.retire());
    this.socket.on("error", (err) => {
      this.lastError = err;
      ctx.log.debug({ peer, err }, "peer connection error");
    });
    this.socket.on("close", () => {
      const why = this.lastError?.message ?? "connection closed";
      this.fail("unreachable", `peer ${peer} unreachable: ${why}`);
    });
  }

  call<K extends RpcName>(name: K, body: RpcReq<K>, timeoutMs: number): Promise<RpcRes<K>> {
    if (this.socket.writableLength > MAX_OUTBOUND_BUFFERED_BYTES) {
      return Promise.reject(new PeerCallError("unreachable", `peer ${this.peer} is not reading`));
    }
    const id = this.allocateId();
    let frame: Buffer;
    try {
      frame = encodeRequest(id, name, body);
    } catch (err) {
      return Promise.reject(
        new PeerCallError("protocol", `cannot send ${name}: ${messageOf(err)}`),
      );
    }
    clearTimeout(this.idleTimer);
    return new Promise<RpcRes<K>>((resolve, reject) => {
      const timer = setTimeout(() => this.expire(id), timerMs(timeoutMs));
      timer.unref();
      this.pending.set(id, { name, resolve: resolve as (body: unknown) => void, reject, timer });
      this.writer.write(frame);
    });
  }

  /** Leaves the pool, fails every pending call with `code` and drops the socket. */
  fail(code: PeerCallFailure, message: string): void {
    this.retire();
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls) {
      clearTimeout(call.timer);
      call.reject(new PeerCallError(code, message));
    }
    this.socket.destroy();
  }

  private retire(): void {
    if (this.retired) return;
    this.retired = true;
    clearTimeout(this.idleTimer);
    this.onRetire();
  }

  private allocateId(): number {
    do this.nextId = (this.nextId + 1) >>> 0;
    while (this.pending.has(this.nextId));
    return this.nextId;
  }

  private expire(id: number): void {
    const call = this.pending.get(id);
    if (call === undefined) return;
    this.pending.delete(id);
    call.reject(new PeerCallError("timeout", `${call.name} to ${this.peer} timed out`));
    // A peer that has not even accepted by now is dialled afresh next time.
    if (this.socket.connecting) this.fail("unreachable", `connecting to ${this.peer} timed out`);
    else this.idleIfQuiet();
  }

  private idleIfQuiet(): void {
    if (this.pending.size > 0 || this.retired) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.retire();
      this.socket.end();
    }, this.ctx.idleMs);
    this.idleTimer.unref();
  }

  private onData(chunk: Buffer): void {
    try {
      this.decoder.push(chunk, this.onPayload);
    } catch (err) {
      if (!(err instanceof PeerProtocolError)) throw err;
      this.ctx.violation(this.peer, err.message);
      this.fail("protocol", `peer ${this.peer} broke the protocol: ${err.message}`);
    }
  }

  private readonly onPayload = (payload: Buffer): void => {
    const msg = decodePayload(payload);
    if (msg.kind === "request") throw new PeerProtocolError(`${msg.name} request to a caller`);
    const call = this.pending.get(msg.id);
    if (call === undefined) {
      this.ctx.log.debug({ peer: this.peer, id: msg.id }, "late peer reply ignored");
      return;
    }
    if (msg.kind === "reply") checkReply(call.name, msg.body); // throws: every call fails
    this.pending.delete(msg.id);
    clearTimeout(call.timer);
    if (msg.kind === "reply") call.resolve(msg.body);
    else call.reject(new PeerCallError("remote", msg.msg === "" ? msg.code : msg.msg));
    this.idleIfQuiet();
  };
}

type Handler = (body: never) => Promise<unknown>;

class InboundConnection {
  private readonly decoder = new PeerFrameDecoder();
  private readonly writer: CoalescingWriter;
  private readonly peer: string;
  /** Requests decoded while PEER_MAX_INFLIGHT were being handled. */
  private backlog: { id: number; name: RpcName; body: unknown }[] = [];
  private inflight = 0;
  private pausedForInflight = false;
  private pausedForDrain = false;

  constructor(
    private readonly socket: Socket,
    private readonly handlers: () => PeerHandlers | undefined,
    private readonly ctx: Context,
  ) {
    this.peer = formatAddress({ host: socket.remoteAddress ?? "?", port: socket.remotePort ?? 0 });
    this.writer = new CoalescingWriter(socket, () => {
      this.pausedForDrain = true;
      socket.pause();
    });
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("drain", () => {
      this.pausedForDrain = false;
      this.resumeIfClear();
    });
    socket.on("error", (err) => ctx.log.debug({ peer: this.peer, err }, "peer socket error"));
    // The caller closes idle connections; this only reaps ones whose caller vanished.
    socket.setTimeout(timerMs(2 * ctx.idleMs), () => {
      if (this.inflight === 0) socket.destroy();
    });
  }

  private onData(chunk: Buffer): void {
    try {
      this.decoder.push(chunk, this.onPayload);
    } catch (err) {
      if (!(err instanceof PeerProtocolError)) throw err;
      this.ctx.violation(this.peer, err.message);
      this.socket.destroy();
    }
  }

  private readonly onPayload = (payload: Buffer): void => {
    const msg = decodePayload(payload);
    if (msg.kind !== "request")
      throw new PeerProtocolError(`${msg.kind} frame but no request sent`);
    if (this.inflight < PEER_MAX_INFLIGHT) {
      this.dispatch(msg.id, msg.name, msg.body);
      return;
    }
    this.backlog.push(msg);
    if (!this.pausedForInflight) {
      this.pausedForInflight = true;
      this.socket.pause();
    }
  };

  private dispatch(id: number, name: RpcName, body: unknown): void {
    this.inflight++;
    void this.handle(id, name, body).then((frame) => this.reply(frame));
  }

  private async handle(id: number, name: RpcName, body: unknown): Promise<Buffer> {
    try {
      const table = this.handlers();
      if (table === undefined) throw new Error("not serving yet");
      const handler: Handler = table[name];
      return encodeReply(id, await handler(body as never));
    } catch (err) {
      this.ctx.log.debug({ peer: this.peer, rpc: name, err }, "peer request failed");
      return encodeError(id, "remote", messageOf(err));
    }
  }

  private reply(frame: Buffer): void {
    this.inflight--;
    if (this.socket.destroyed) return;
    this.writer.write(frame);
    const next = this.backlog.shift();
    if (next !== undefined) this.dispatch(next.id, next.name, next.body);
    else if (this.pausedForInflight && this.inflight <= PEER_MAX_INFLIGHT / 2) {
      this.pausedForInflight = false;
      this.resumeIfClear();
    }
  }

  private resumeIfClear(): void {
    if (!this.pausedForDrain && !this.pausedForInflight && !this.socket.destroyed) {
      this.socket.resume();
    }
  }
}
