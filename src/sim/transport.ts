// One node's end of the simulated network: a PeerTransport whose bytes are the
// real peer codec's frames. Policy: a request is encoded with encodeRequest and
// decoded by the callee through PeerFrameDecoder + decodePayload; the handler's
// result goes back through encodeReply (encodeError for a throw) and is
// decoded and checked with checkReply by the caller. Every call carries its own
// deadline on the injected clock, so a lost message surfaces as "timeout".
// close() (and SimNetwork.kill) stops serving and fails calls in flight with
// "closed"; later calls fail "closed" at once. pause() stops the node like
// SIGSTOP: arriving requests and replies (and anything it sends) wait on its
// PausableClock and are handled on resume(), after its overdue timers.
// Handlers learn the caller's true address: address validation (hello/prove)
// is the TCP transport's, and simulated peers cannot spoof.

import {
  PeerCallError,
  type PeerCaller,
  type PeerHandlers,
  type PeerTransport,
  type TimerHandle,
} from "../ports.js";
import {
  checkReply,
  decodePayload,
  encodeError,
  encodeReply,
  encodeRequest,
  PeerFrameDecoder,
  type PeerMessage,
  type RpcName,
  type RpcReq,
  type RpcRes,
} from "../wire/peer.js";
import type { PausableClock } from "./pausable-clock.js";

/** What a transport needs from its network. */
export interface SimWire {
  /** Carries request `frame` (call `id`) from `caller` to `to`. */
  request(caller: SimTransport, to: string, id: number, frame: Buffer): void;
}

/** What travels back to a caller: a reply/error frame, or a connection-level failure. */
export type SimReply = Buffer | PeerCallError;

interface PendingCall {
  readonly to: string;
  readonly name: RpcName;
  readonly accept: (body: unknown) => void;
  readonly reject: (err: PeerCallError) => void;
  readonly timer: TimerHandle;
}

/** The host part of "host:port" / "[v6]:port". */
const hostOf = (addr: string): string => addr.replace(/^\[?(.*?)\]?:\d+$/, "$1");

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.length > 0 ? code.slice(0, 64) : "error";
}

/** Decodes exactly one whole frame, as a connection's decoder would. */
function unframe(frame: Buffer): PeerMessage {
  const messages: PeerMessage[] = [];
  new PeerFrameDecoder().push(frame, (payload) => messages.push(decodePayload(payload)));
  if (messages.length !== 1) throw new Error(`expected one frame, got ${messages.length}`);
  return messages[0]!;
}

function encodeOutcome(id: number, result: Promise<unknown>): Promise<Buffer> {
  return result.then(
    (body) => {
      try {
        return encodeReply(id, body);
      } catch (err) {
        return encodeError(id, "internal", `reply cannot be encoded: ${messageOf(err)}`);
      }
    },
    (err: unknown) => encodeError(id, codeOf(err), messageOf(err)),
  );
}

export class SimTransport implements PeerTransport {
  private handlers: PeerHandlers | undefined;
  private isClosed = false;
  private readonly calls = new Map<number, PendingCall>();
  private nextId = 0;

  constructor(
    readonly address: string,
    private readonly wire: SimWire,
    /** This node's clock: call deadlines, and the gate that holds work while paused. */
    readonly clock: PausableClock,
  ) {}

  /** Answers requests now. */
  get serving(): boolean {
    return this.handlers !== undefined;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  call<K extends RpcName>(
    to: string,
    name: K,
    body: RpcReq<K>,
    timeoutMs: number,
  ): Promise<RpcRes<K>> {
    if (this.isClosed) {
      return Promise.reject(new PeerCallError("closed", `${this.address}: transport closed`));
    }
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    let frame: Buffer;
    try {
      frame = encodeRequest(id, name, body);
    } catch (err) {
      return Promise.reject(new PeerCallError("protocol", `${name} to ${to}: ${messageOf(err)}`));
    }
    return new Promise<RpcRes<K>>((resolve, reject) => {
      const expire = () =>
        this.fail(
          id,
          new PeerCallError("timeout", `${name} to ${to}: no reply in ${timeoutMs} ms`),
        );
      const timer = this.clock.setTimeout(expire, timeoutMs);
      const accept = (reply: unknown) => resolve(checkReply(name, reply));
      this.calls.set(id, { to, name, accept, reject, timer });
      this.clock.run(() => this.wire.request(this, to, id, frame));
    });
  }

  async serve(handlers: PeerHandlers): Promise<void> {
    if (this.isClosed) throw new PeerCallError("closed", `${this.address}: transport closed`);
    if (this.handlers !== undefined) throw new Error(`${this.address} is already serving`);
    this.handlers = handlers;
  }

  async close(): Promise<void> {
    this.shutdown(`${this.address}: transport closed`);
  }

  /** Stops processing (SIGSTOP) until resume(). */
  pause(): void {
    this.clock.pause();
  }

  /** Continues (SIGCONT): overdue timers fire, then held messages are handled. */
  resume(): void {
    this.clock.resume();
  }

  /** Stops at once: no more serving, calls in flight fail "closed". Idempotent. */
  shutdown(why: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.handlers = undefined;
    for (const id of [...this.calls.keys()]) this.fail(id, new PeerCallError("closed", why));
  }

  /**
   * A request frame arrived (only while serving): decode it, run the handler,
   * and hand `respond` the encoded reply, or a "protocol" failure when the
   * frame breaks the protocol (a real peer would drop the connection).
   * While paused, all of this waits for resume().
   */
  receive(from: string, frame: Buffer, respond: (reply: SimReply) => void): void {
    this.clock.run(() => {
      if (this.serving) this.handle(from, frame, (reply) => this.clock.run(() => respond(reply)));
    });
  }

  private handle(from: string, frame: Buffer, respond: (reply: SimReply) => void): void {
    let msg: PeerMessage;
    try {
      msg = unframe(frame);
      if (msg.kind !== "request") throw new Error(`expected a request, got a ${msg.kind}`);
    } catch (err) {
      respond(
        new PeerCallError("protocol", `${this.address} rejected the request: ${messageOf(err)}`),
      );
      return;
    }
    let result: Promise<unknown>;
    try {
      // The simulated network cannot be lied to about who sends: the caller is its address.
      if (msg.name === "hello" || msg.name === "prove")
        throw new Error(`${msg.name} is not simulated`);
      const handler = this.handlers![msg.name] as (
        body: unknown,
        from: PeerCaller,
      ) => Promise<unknown>;
      result = Promise.resolve(handler(msg.body, { addr: from, ip: hostOf(from) }));
    } catch (err) {
      result = Promise.reject(err);
    }
    void encodeOutcome(msg.id, result).then(respond);
  }

  /** The answer to call `id` arrived; false when this transport is closed. Held while paused. */
  deliver(id: number, reply: SimReply): boolean {
    if (this.clock.paused && !this.isClosed) {
      this.clock.run(() => this.settle(id, reply));
      return true;
    }
    return this.settle(id, reply);
  }

  private settle(id: number, reply: SimReply): boolean {
    const call = this.take(id);
    if (call === undefined) return !this.isClosed; // late: the caller already gave up
    if (!Buffer.isBuffer(reply)) {
      call.reject(reply);
      return true;
    }
    const failure = (why: string) =>
      new PeerCallError("protocol", `${call.name} to ${call.to}: ${why}`);
    try {
      const msg = unframe(reply);
      if (msg.id !== id) throw new Error(`reply for call ${msg.id}, expected ${id}`);
      if (msg.kind === "error") {
        const text = `${call.name} to ${call.to} failed there: ${msg.code}: ${msg.msg}`;
        call.reject(new PeerCallError("remote", text));
      } else if (msg.kind === "reply") call.accept(msg.body);
      else throw new Error("a request where a reply was due");
    } catch (err) {
      call.reject(failure(messageOf(err)));
    }
    return true;
  }

  private fail(id: number, err: PeerCallError): void {
    this.take(id)?.reject(err);
  }

  private take(id: number): PendingCall | undefined {
    const call = this.calls.get(id);
    if (call === undefined) return undefined;
    this.calls.delete(id);
    call.timer.cancel();
    return call;
  }
}
