// One inbound peer connection: their requests in, our replies out. Policy:
// - Nothing but `prove` is handled before the caller's `hello` has been
//   verified: the transport sends the hello's ticket to the caller's source IP
//   at the port it claims, and only a "mine" from there proves it. Requests
//   pipelined behind the hello wait (bounded); a request before any hello, a
//   second hello, or a failed proof closes the connection and is reported.
// - Verified requests go to their handler with the caller's verified address,
//   after the per-peer rate limit; replies leave in any order. At most
//   PEER_MAX_INFLIGHT are handled at once; past that, requests wait and reading
//   pauses, as it does while the send buffer is full.
// - A connection whose caller has not proven its address within
//   `helloDeadlineMs` is closed (slots held by silent connections come back).
// - A frame must finish arriving within `frameDeadlineMs` of its first byte;
//   bytes held in unfinished frames count against the transport's input budget.

import type { Socket } from "node:net";
import type { Logger } from "../log.js";
import type { Offence, PeerCaller, PeerHandlers } from "../ports.js";
import {
  decodePayload,
  encodeError,
  encodeReply,
  PeerFrameDecoder,
  PeerProtocolError,
  type RpcName,
  type RpcReq,
} from "../wire/peer.js";
import { formatAddress } from "./address.js";
import { CoalescingWriter } from "./coalescing-writer.js";
import { messageOf, timerMs } from "./peer-outbound.js";

/** Requests handled at once per inbound connection before reading pauses. */
export const PEER_MAX_INFLIGHT = 256;

/** What inbound connections share with their transport. */
export interface InboundContext {
  log: Logger;
  idleMs: number;
  frameDeadlineMs: number;
  /** A connection without a verified hello this long after opening is closed. */
  helloDeadlineMs: number;
  handlers(): PeerHandlers | undefined;
  /** Checks a hello: resolves with the caller's address, rejects when unproven. */
  verify(ip: string, port: number, ticket: Buffer): Promise<string>;
  /** Whether we sent this ticket in a hello still awaiting its reply. */
  isMyTicket(ticket: Buffer): boolean;
  /** Takes a token from the caller's rate limit; false when it is exhausted. */
  allow(caller: PeerCaller): boolean;
  report(ip: string, offence: Offence, detail: string): void;
  violation(peer: string, ip: string, reason: string): void;
  /** Bytes held in unfinished frames changed by `delta` (the transport enforces a budget). */
  buffered(conn: InboundConnection, delta: number): void;
}

type Handler = (body: never, from: PeerCaller) => Promise<unknown>;
export interface Request {
  id: number;
  name: RpcName;
  body: unknown;
}

export class InboundConnection {
  private readonly decoder = new PeerFrameDecoder();
  private readonly writer: CoalescingWriter;
  private readonly peer: string;
  private caller: PeerCaller | undefined;
  private verifying = false;
  /** Requests decoded while PEER_MAX_INFLIGHT were handled, or while the hello is checked. */
  private backlog: Request[] = [];
  private inflight = 0;
  private pausedForInflight = false;
  private pausedForDrain = false;
  private held = 0;
  private frameTimer: NodeJS.Timeout | undefined;
  private helloTimer: NodeJS.Timeout | undefined;
  /** When the connection opened (the transport evicts the oldest unverified one when full). */
  readonly openedAt = performance.now();

  constructor(
    private readonly socket: Socket,
    readonly ip: string,
    private readonly ctx: InboundContext,
  ) {
    this.peer = formatAddress({ host: ip, port: socket.remotePort ?? 0 });
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
    socket.once("close", () => {
      clearTimeout(this.frameTimer);
      this.setHeld(0);
    });
    // A connection must prove its caller's address soon, or it gives its slot back.
    this.helloTimer = setTimeout(() => {
      if (this.caller === undefined) this.drop("slow", "no proven hello in time");
    }, timerMs(ctx.helloDeadlineMs));
    this.helloTimer.unref();
    // The caller closes idle connections; this only reaps ones whose caller vanished.
    socket.setTimeout(timerMs(2 * ctx.idleMs), () => {
      if (this.inflight === 0) socket.destroy();
    });
  }

  /** Whether the caller proved its address (hello verified). */
  get verified(): boolean {
    return this.caller !== undefined;
  }

  /** Bytes of unfinished frames held for this connection. */
  get bufferedBytes(): number {
    return this.held;
  }

  /** Closes the connection, reporting why. */
  drop(offence: Offence, reason: string): void {
    if (this.socket.destroyed) return;
    this.ctx.report(this.ip, offence, reason);
    this.ctx.log.warn({ peer: this.peer, reason }, "dropping peer connection");
    this.destroy();
  }

  /** Closes the connection at once; its unfinished input no longer counts. */
  destroy(): void {
    this.socket.destroy();
    clearTimeout(this.frameTimer);
    clearTimeout(this.helloTimer);
    this.setHeld(0);
  }

  private onData(chunk: Buffer): void {
    try {
      this.decoder.push(chunk, this.onPayload);
    } catch (err) {
      if (!(err instanceof PeerProtocolError)) throw err;
      this.ctx.violation(this.peer, this.ip, err.message);
      this.socket.destroy();
      return;
    }
    this.setHeld(this.decoder.buffered);
    if (this.held === 0) {
      clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
    } else if (this.frameTimer === undefined) {
      this.frameTimer = setTimeout(
        () => this.drop("slow", `frame unfinished after ${this.ctx.frameDeadlineMs} ms`),
        timerMs(this.ctx.frameDeadlineMs),
      );
      this.frameTimer.unref();
    }
  }

  private setHeld(bytes: number): void {
    const delta = bytes - this.held;
    this.held = bytes;
    if (delta !== 0) this.ctx.buffered(this, delta);
  }

  private readonly onPayload = (payload: Buffer): void => {
    const msg = decodePayload(payload);
    if (msg.kind !== "request")
      throw new PeerProtocolError(`${msg.kind} frame but no request sent`);
    if (msg.name === "prove") {
      const { ticket } = msg.body as RpcReq<"prove">;
      this.inflight++;
      this.reply(encodeReply(msg.id, { mine: this.ctx.isMyTicket(ticket) }));
      // A verifier's connection of its own (no hello): we close it once answered, so the
      // closing side's TIME_WAIT stays on our listening port, not on one of its own ports.
      if (this.caller === undefined && !this.verifying)
        setImmediate(() => {
          this.writer.flush();
          this.socket.end();
        });
      return;
    }
    if (msg.name === "hello") {
      if (this.caller !== undefined || this.verifying) throw new PeerProtocolError("second hello");
      this.verifying = true;
      this.inflight++;
      void this.verify(msg.id, msg.body as RpcReq<"hello">).then((frame) => {
        if (frame !== undefined) this.reply(frame);
      });
      return;
    }
    if (this.caller === undefined && !this.verifying)
      throw new PeerProtocolError(`${msg.name} request before hello`);
    if (this.caller !== undefined && this.inflight < PEER_MAX_INFLIGHT) {
      this.dispatch(msg, this.caller);
      return;
    }
    this.backlog.push(msg);
    const full = this.caller !== undefined || this.backlog.length >= PEER_MAX_INFLIGHT;
    if (!this.pausedForInflight && full) {
      this.pausedForInflight = true;
      this.socket.pause();
    }
  };

  /** The hello's reply, or undefined when refused (the error went out and the socket closes). */
  private async verify(id: number, { port, ticket }: RpcReq<"hello">): Promise<Buffer | undefined> {
    try {
      const addr = await this.ctx.verify(this.ip, port, ticket);
      this.caller = { addr, ip: this.ip };
      this.verifying = false;
      clearTimeout(this.helloTimer);
      return encodeReply(id, { seenAs: addr });
    } catch (err) {
      const reason = `hello not proven: ${messageOf(err)}`;
      this.ctx.report(this.ip, "failedProof", reason);
      this.ctx.log.warn({ peer: this.peer, reason }, "peer refused");
      this.inflight--;
      this.backlog = [];
      this.socket.end(encodeError(id, "unverified", reason));
      setTimeout(() => this.destroy(), 1000).unref();
      return undefined;
    }
  }

  private dispatch(req: Request, caller: PeerCaller): void {
    this.inflight++;
    void this.handle(req, caller).then((frame) => this.reply(frame));
  }

  private handle(req: Request, caller: PeerCaller): Promise<Buffer> {
    return answerRequest(this.ctx, req, caller);
  }

  private reply(frame: Buffer): void {
    this.inflight--;
    if (this.socket.destroyed) return;
    this.writer.write(frame);
    this.next();
  }

  /** Starts waiting requests while there is room (and the caller is verified). */
  private next(): void {
    const caller = this.caller;
    while (caller !== undefined && this.inflight < PEER_MAX_INFLIGHT && this.backlog.length > 0)
      this.dispatch(this.backlog.shift()!, caller);
    const drained = this.backlog.length === 0 && this.inflight <= PEER_MAX_INFLIGHT / 2;
    if (this.pausedForInflight && drained) {
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

/** A verified caller's request, answered by the handlers: the reply or error frame. */
export async function answerRequest(
  ctx: Pick<InboundContext, "handlers" | "allow" | "log">,
  { id, name, body }: Request,
  caller: PeerCaller,
): Promise<Buffer> {
  try {
    const table = ctx.handlers();
    if (table === undefined) throw new Error("not serving yet");
    if (!ctx.allow(caller)) throw new Error("rate limited");
    const handler: Handler = table[name as keyof PeerHandlers];
    return encodeReply(id, await handler(body as never, caller));
  } catch (err) {
    ctx.log.debug({ peer: caller.addr, rpc: name, err }, "peer request failed");
    return encodeError(id, "remote", messageOf(err));
  }
}
