// The peer transport over real TCP. Policy:
// - Outbound (peer-outbound.ts): one pooled connection per peer address,
//   dialled on the first call (concurrent first calls share it), opened with a
//   hello that proves our listening port, closed after `idleMs` idle.
//   Connections only carry requests one way: ours out, their replies back.
// - Inbound (peer-inbound.ts): a caller is known by the address it connects
//   from and the port it proves (a `prove` with its hello's ticket, sent to
//   that address: over our pooled connection there, else over one of its own
//   closed once answered); its requests reach the handlers with that address only.
// - Limits: connections per IP (IPv4 address or IPv6 /64; loopback exempt
//   unless `limitLoopback`), requests per second per peer (token bucket), a
//   deadline for each frame to finish arriving, and a budget for the bytes of
//   unfinished frames across all connections: past it, the connection holding
//   the most is dropped. Banned IPs (the guard) are refused at accept and not called.
// - Writes queued in one event-loop turn leave in one socket write.
// - A peer that breaks the protocol gets one warning and its connection closed.

import { createServer, isIP, type Server, type Socket } from "node:net";
import type { Logger } from "../log.js";
import {
  type Offence,
  PeerCallError,
  type PeerCaller,
  type PeerGuard,
  type PeerHandlers,
  type PeerTransport,
} from "../ports.js";
import { normalizeIp as canonicalIp, ipGroup } from "../ring/ip-group.js";
import {
  decodePayload,
  PeerProtocolError,
  type RpcName,
  type RpcReq,
  type RpcRes,
} from "../wire/peer.js";
import { type Address, formatAddress, isLoopback, parseAddress } from "./address.js";
import type { LocalExchange } from "./local-exchange.js";
import {
  answerRequest,
  type InboundConnection as Inbound,
  InboundConnection,
  type InboundContext,
} from "./peer-inbound.js";
import { askProve, OutboundConnection, type OutboundContext, timerMs } from "./peer-outbound.js";
import { PeerRateLimiter } from "./rate-limit.js";

export { PEER_MAX_INFLIGHT } from "./peer-inbound.js";
export const PEER_IDLE_MS = 20_000;
export const PEER_MAX_CONNECTIONS = 4096;
export const PEER_MAX_CONNECTIONS_PER_IP = 32;
/** Bytes of unfinished inbound frames across all connections. */
export const PEER_INPUT_BUDGET_BYTES = 64 * 1024 * 1024;
/** A connection must prove its caller's address (hello) this soon after opening. */
export const PEER_HELLO_DEADLINE_MS = 10_000;
/** A frame must finish arriving this long after its first byte. */
export const PEER_FRAME_DEADLINE_MS = 10_000;
/** Requests per second per peer (sustained) and the burst allowed above it. */
export const PEER_RATE = { perSecond: 5_000, burst: 10_000 };
export const PEER_WARNING = "bad peer input, closing connection";

export interface TcpTransportOptions {
  listen: Address;
  /** How peers reach us; defaults to the listen host with the bound port. */
  advertise?: string;
  maxConnections?: number;
  /** An outbound connection with no call pending this long is closed. */
  idleMs?: number;
  maxConnectionsPerIp?: number;
  /** Apply the per-IP connection cap to loopback callers too (tests of the cap). */
  limitLoopback?: boolean;
  inputBudgetBytes?: number;
  frameDeadlineMs?: number;
  rate?: { perSecond: number; burst: number };
  /** Misbehaviour scoring: offences are reported to it, banned IPs refused. */
  guard?: PeerGuard;
  /** Nodes of this process reached in memory (local-exchange.ts): a testnet's. */
  exchange?: LocalExchange;
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
  /** Inbound connections refused: banned IP or over the per-IP cap. */
  refusedConnections: number;
  /** Connections dropped to keep unfinished frames within the input budget. */
  budgetDrops: number;
  /** Unproven connections closed to make room for a newcomer when all slots were taken. */
  evicted: number;
  /** Requests refused by the per-peer rate limit. */
  rateLimited: number;
  /** Bytes of unfinished inbound frames now held. */
  bufferedInput: number;
}

/** A socket's remote address in canonical form (IPv4-mapped IPv6 as plain IPv4). */
const normalizeIp = (ip: string): string => canonicalIp(ip) ?? ip;

const noGuard: PeerGuard = { banned: () => false, report: () => {} };
const WILDCARDS = new Set(["0.0.0.0", "::", ""]);

export class TcpTransport implements PeerTransport {
  private readonly server: Server;
  private readonly guard: PeerGuard;
  private readonly inbound = new Set<Inbound>();
  private readonly perIp = new Map<string, number>();
  private readonly pool = new Map<string, OutboundConnection>();
  private readonly tickets = new Set<string>();
  private readonly rate: PeerRateLimiter;
  private readonly counts = {
    inboundConnections: 0,
    outboundConnections: 0,
    protocolErrors: 0,
    refusedConnections: 0,
    budgetDrops: 0,
    rateLimited: 0,
    evicted: 0,
  };
  private bufferedInput = 0;
  private readonly outboundContext: OutboundContext;
  private readonly inboundContext: InboundContext;
  private handlers: PeerHandlers | undefined;
  private advertised: string;
  private listening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Who we are to nodes of this process (set once serving through the exchange). */
  private localCaller: PeerCaller | undefined;

  constructor(
    private readonly deps: { log: Logger },
    private readonly opts: TcpTransportOptions,
  ) {
    this.advertised = opts.advertise ?? formatAddress(opts.listen);
    this.guard = opts.guard ?? noGuard;
    const { perSecond, burst } = opts.rate ?? PEER_RATE;
    this.rate = new PeerRateLimiter(perSecond, burst);
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    // The cap is ours (accept() makes room by evicting); the OS-level one is a backstop.
    this.server.maxConnections = 2 * (opts.maxConnections ?? PEER_MAX_CONNECTIONS);
    this.outboundContext = {
      log: deps.log,
      idleMs: timerMs(opts.idleMs ?? PEER_IDLE_MS),
      port: () => parseAddress(this.advertised)?.port ?? this.boundPort(),
      address: () => this.advertised,
      localAddress:
        isIP(opts.listen.host) === 0 || WILDCARDS.has(opts.listen.host)
          ? undefined
          : opts.listen.host,
      tickets: this.tickets,
      violation: (peer: string, ip: string, reason: string) => this.violation(peer, ip, reason),
    };

    this.inboundContext = {
      log: deps.log,
      idleMs: timerMs(opts.idleMs ?? PEER_IDLE_MS),
      frameDeadlineMs: opts.frameDeadlineMs ?? PEER_FRAME_DEADLINE_MS,
      helloDeadlineMs: PEER_HELLO_DEADLINE_MS,
      handlers: () => this.handlers,
      verify: (ip: string, port: number, ticket: Buffer) => this.verify(ip, port, ticket),
      isMyTicket: (ticket: Buffer) => this.tickets.has(ticket.toString("hex")),
      allow: (caller: PeerCaller) => this.allow(caller),
      report: (ip: string, offence: Offence, detail: string) =>
        this.guard.report(ip, offence, detail),
      violation: (peer: string, ip: string, reason: string) => this.violation(peer, ip, reason),
      buffered: (conn: Inbound, delta: number) => this.onBuffered(conn, delta),
    };
  }

  get address(): string {
    return this.advertised;
  }

  get stats(): TcpTransportStats {
    return {
      ...this.counts,
      openInbound: this.inbound.size,
      openOutbound: this.pool.size,
      bufferedInput: this.bufferedInput,
    };
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
    if (this.closing === undefined && this.opts.exchange !== undefined) {
      const ip = parseAddress(this.advertised)?.host;
      if (ip !== undefined) this.localCaller = { addr: this.advertised, ip: normalizeIp(ip) };
      this.opts.exchange.register(this.advertised, this.receiveLocal);
    }
  }

  /** A request from a node of this process (local-exchange.ts): answered as over TCP. */
  private readonly receiveLocal = async (
    payload: Buffer,
    from: PeerCaller,
  ): Promise<Buffer | undefined> => {
    if (this.closing !== undefined || this.guard.banned(from.ip)) return undefined;
    const msg = decodePayload(payload);
    if (msg.kind !== "request") throw new PeerProtocolError(`${msg.kind} frame as a request`);
    const reply = await answerRequest(this.inboundContext, msg, from);
    return this.closing === undefined ? reply : undefined;
  };

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
    if (!this.server.listening) {
      // Callees prove our port by calling back: listen before the first call.
      return this.listen().then(
        () => this.call(to, name, body, timeoutMs),
        (err: Error) => Promise.reject(new PeerCallError("closed", err.message)),
      );
    }
    const exchange = this.opts.exchange;
    if (this.localCaller !== undefined && exchange?.has(to))
      return exchange.call(this.localCaller, to, name, body, timeoutMs);
    const conn = this.connection(to);
    if (conn === undefined) {
      return Promise.reject(new PeerCallError("unreachable", `bad or banned peer "${to}"`));
    }
    return conn.call(name, body, timeoutMs);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.opts.exchange?.unregister(this.advertised, this.receiveLocal);
    for (const conn of [...this.pool.values()]) conn.fail("closed", "peer transport closed");
    this.pool.clear();
    for (const conn of this.inbound) conn.destroy();
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
    const ip = normalizeIp(socket.remoteAddress ?? "");
    if (this.closing !== undefined || !this.admitConnection(ip)) {
      socket.destroy();
      return;
    }
    this.counts.inboundConnections++;
    const group = ipGroup(ip);
    this.perIp.set(group, (this.perIp.get(group) ?? 0) + 1);
    const conn = new InboundConnection(socket, ip, this.inboundContext);
    this.inbound.add(conn);
    socket.once("close", () => {
      this.inbound.delete(conn);
      const left = (this.perIp.get(group) ?? 1) - 1;
      if (left > 0) this.perIp.set(group, left);
      else this.perIp.delete(group);
    });
  }

  /**
   * Banned IPs and IPs over their connection cap are refused. When all slots are taken,
   * the oldest connection whose caller has not proven its address gives way; if every
   * one is proven, the newcomer is refused.
   */
  private admitConnection(ip: string): boolean {
    const why = this.refusal(ip);
    if (why === undefined) return true;
    this.counts.refusedConnections++;
    this.deps.log.debug({ ip, reason: why }, "peer connection refused");
    return false;
  }

  private refusal(ip: string): string | undefined {
    if (this.guard.banned(ip)) return "banned";
    if (this.opts.limitLoopback === true || !isLoopback(ip)) {
      const cap = this.opts.maxConnectionsPerIp ?? PEER_MAX_CONNECTIONS_PER_IP;
      if ((this.perIp.get(ipGroup(ip)) ?? 0) >= cap) {
        const why = `more than ${cap} connections from one IP`;
        this.guard.report(ip, "rateLimited", why);
        return why;
      }
    }
    if (this.inbound.size < (this.opts.maxConnections ?? PEER_MAX_CONNECTIONS)) return undefined;
    let oldest: Inbound | undefined;
    for (const c of this.inbound)
      if (!c.verified && (oldest === undefined || c.openedAt < oldest.openedAt)) oldest = c;
    if (oldest === undefined) return "all peer connection slots are held by proven peers";
    this.counts.evicted++;
    oldest.destroy();
    this.inbound.delete(oldest);
    return undefined;
  }

  /** The pooled connection to `to`, dialled now if there is none. */
  private connection(to: string): OutboundConnection | undefined {
    const pooled = this.pool.get(to);
    if (pooled !== undefined) return pooled;
    const addr = parseAddress(to);
    if (addr === undefined || this.guard.banned(normalizeIp(addr.host))) return undefined;
    const conn = new OutboundConnection(to, addr, this.outboundContext, () => {
      if (this.pool.get(to) === conn) this.pool.delete(to);
    });
    this.pool.set(to, conn);
    this.counts.outboundConnections++;
    return conn;
  }

  private violation(peer: string, ip: string, reason: string): void {
    this.counts.protocolErrors++;
    this.guard.report(normalizeIp(ip), "malformed", reason);
    this.deps.log.warn({ peer, reason }, PEER_WARNING);
  }

  /** A hello's port is proven when the listener there knows the hello's ticket. */
  private async verify(ip: string, port: number, ticket: Buffer): Promise<string> {
    const addr = formatAddress({ host: ip, port });
    const to = parseAddress(addr);
    if (to === undefined || this.closing !== undefined) throw new Error(`cannot reach ${addr}`);
    const mine = await askProve(this.pool.get(addr), addr, to, this.outboundContext, ticket);
    if (!mine) throw new Error(`the node at ${addr} did not send this hello`);
    return addr;
  }

  /** Token bucket per verified peer address; refusals are reported at most once a second. */
  private allow(caller: PeerCaller): boolean {
    const verdict = this.rate.take(caller.addr, performance.now());
    if (verdict === "allow") return true;
    this.counts.rateLimited++;
    if (verdict === "refuse-and-report")
      this.guard.report(caller.ip, "rateLimited", `more than ${this.rate.perSecond} requests/s`);
    return false;
  }

  /** Keeps unfinished frames within the budget by dropping the connection holding the most. */
  private onBuffered(_conn: Inbound, delta: number): void {
    this.bufferedInput += delta;
    const budget = this.opts.inputBudgetBytes ?? PEER_INPUT_BUDGET_BYTES;
    while (this.bufferedInput > budget) {
      let worst: Inbound | undefined;
      for (const c of this.inbound)
        if (worst === undefined || c.bufferedBytes > worst.bufferedBytes) worst = c;
      if (worst === undefined || worst.bufferedBytes === 0) return;
      this.counts.budgetDrops++;
      worst.drop("slow", `peer input budget of ${budget} bytes exceeded`);
    }
  }
}
