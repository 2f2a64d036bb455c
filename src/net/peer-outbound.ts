// One outbound peer connection: our requests out, their replies back. Policy:
// - The first request is always `hello` (our listening port and a fresh random
//   ticket): the callee proves the port by sending the ticket back to it. Calls
//   made meanwhile are pipelined behind it; the callee holds them until proven.
//   A refused hello fails every call on the connection ("unreachable").
// - Calls carry u32 ids and each has its own deadline; a late reply is ignored.
//   A connection that drops fails its pending calls ("unreachable") and leaves
//   the pool, so the next call dials again. Closed after `idleMs` with no call.
// - A peer that breaks the protocol gets one warning and the connection closed.

import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import type { Logger } from "../log.js";
import { PeerCallError, type PeerCallFailure } from "../ports.js";
import {
  checkReply,
  decodePayload,
  encodeRequest,
  PEER_MAX_PAYLOAD_BYTES,
  PeerFrameDecoder,
  PeerProtocolError,
  type RpcName,
  type RpcReq,
  type RpcRes,
} from "../wire/peer.js";
import type { Address } from "./address.js";
import { CoalescingWriter } from "./coalescing-writer.js";

/** Bytes queued towards one peer before further calls to it fail at once. */
const MAX_OUTBOUND_BUFFERED_BYTES = 4 * PEER_MAX_PAYLOAD_BYTES;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long a hello may take: the callee dials us back to check the ticket. */
export const HELLO_TIMEOUT_MS = 10_000;

/** How long a prove connection of its own waits for the prover to close it. */
const PROVE_LINGER_MS = 2_000;

export const timerMs = (ms: number): number => Math.min(Math.max(ms, 0), MAX_TIMER_MS);
export const messageOf = (err: unknown): string =>
  err instanceof Error ? err.message : String(err);

/** What outbound connections share with their transport. */
export interface OutboundContext {
  log: Logger;
  idleMs: number;
  /** Our listening port, sent in hello. */
  port(): number;
  /** The address callees should know us by (a mismatch is logged once). */
  address(): string;
  /** Local address to dial from, so callees see the IP we listen on. */
  localAddress: string | undefined;
  /** Tickets of hellos still awaiting their reply: `prove` asks about them. */
  tickets: Set<string>;
  violation(peer: string, ip: string, reason: string): void;
}

interface PendingCall {
  name: RpcName;
  resolve(body: unknown): void;
  reject(err: PeerCallError): void;
  timer: NodeJS.Timeout;
}

export class OutboundConnection {
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
    private readonly addr: Address,
    private readonly ctx: OutboundContext,
    private readonly onRetire: () => void,
    /** False for a one-shot `prove` connection: it sends no hello and is not pooled. */
    withHello = true,
  ) {
    this.socket = connect({
      host: addr.host,
      port: addr.port,
      noDelay: true,
      keepAlive: true,
      // Binding a source address takes a port for good (until TIME_WAIT ends), whatever the
      // destination: a busy node would run out of ports. A local destination is reached from
      // its own address anyway, so only other destinations get the explicit bind.
      ...(ctx.localAddress === undefined || ctx.localAddress === addr.host
        ? {}
        : { localAddress: ctx.localAddress }),
    });
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
    if (withHello) this.hello();
  }

  /** Sends hello first; a refusal fails the connection and every call on it. */
  private hello(): void {
    const ticket = randomBytes(16);
    const key = ticket.toString("hex");
    this.ctx.tickets.add(key);
    this.call("hello", { port: this.ctx.port(), ticket }, HELLO_TIMEOUT_MS).then(
      ({ seenAs }) => {
        this.ctx.tickets.delete(key);
        if (seenAs !== this.ctx.address())
          this.ctx.log.warn(
            { peer: this.peer, seenAs, advertised: this.ctx.address() },
            "a peer knows this node by another address than it advertises",
          );
      },
      (err: PeerCallError) => {
        this.ctx.tickets.delete(key);
        this.fail("unreachable", `peer ${this.peer} refused our hello: ${err.message}`);
      },
    );
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
      this.ctx.violation(this.peer, this.addr.host, err.message);
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

/**
 * Asks the listener at `addr` whether it sent `ticket` in a hello: over our pooled
 * connection there if there is one, else over a connection of its own with no hello,
 * which the prover closes once it answered (peer-inbound.ts), so no second connection
 * per pair stays open and TIME_WAIT stays on the prover's listening port.
 */
export async function askProve(
  pooled: OutboundConnection | undefined,
  addr: string,
  to: Address,
  ctx: OutboundContext,
  ticket: Buffer,
): Promise<boolean> {
  const timeout = HELLO_TIMEOUT_MS / 2;
  if (pooled !== undefined) return (await pooled.call("prove", { ticket }, timeout)).mine;
  const once = new OutboundConnection(addr, to, ctx, () => {}, false);
  try {
    const { mine } = await once.call("prove", { ticket }, timeout);
    // A prover that does not close it is cut off.
    setTimeout(() => once.fail("closed", "prove answered"), PROVE_LINGER_MS).unref();
    return mine;
  } catch (err) {
    once.fail("closed", "prove failed");
    throw err;
  }
}
