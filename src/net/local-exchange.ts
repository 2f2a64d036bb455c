// Nodes that share one process (a testnet) reach each other in memory instead
// of over loopback sockets, so a ring of thousands of nodes fits in one
// process's file descriptors: a node then holds only its two listeners.
// Policy:
// - A transport registers its advertised address once it serves, and
//   unregisters when it closes. A call to a registered address is encoded and
//   decoded with the peer codec exactly as over TCP (schemas, size limit),
//   answered by the callee's handlers with the same per-peer rate limit and
//   bans, and bounded by the same deadline. Requests are delivered at once
//   until the current event-loop turn has run YIELD_AFTER_MS, then on the next
//   turn (setImmediate), so timers and sockets keep running.
// - The caller is known by construction (the process registered it), so no
//   hello is needed: only transports of this process can register.
// - Anything else, and every node outside the process, goes over TCP.

import { PeerCallError, type PeerCaller } from "../ports.js";
import {
  checkReply,
  decodePayload,
  encodeRequest,
  PEER_FRAME_HEADER_BYTES,
  PeerProtocolError,
  type RpcName,
  type RpcReq,
  type RpcRes,
} from "../wire/peer.js";
import { messageOf, timerMs } from "./peer-outbound.js";

/** A served transport's answer to one request payload: a reply frame, or undefined once closed. */
export type LocalReceiver = (payload: Buffer, from: PeerCaller) => Promise<Buffer | undefined>;

/** Calls are delivered in memory until this long has passed since the event loop last turned. */
const YIELD_AFTER_MS = 5;

export class LocalExchange {
  private readonly receivers = new Map<string, LocalReceiver>();
  private turnStarted = 0;
  /** Calls delivered in memory. */
  calls = 0;

  register(addr: string, receiver: LocalReceiver): void {
    this.receivers.set(addr, receiver);
  }

  unregister(addr: string, receiver: LocalReceiver): void {
    if (this.receivers.get(addr) === receiver) this.receivers.delete(addr);
  }

  has(addr: string): boolean {
    return this.receivers.has(addr);
  }

  /** One request to the node registered at `to`, as over TCP. */
  async call<K extends RpcName>(
    from: PeerCaller,
    to: string,
    name: K,
    body: RpcReq<K>,
    timeoutMs: number,
  ): Promise<RpcRes<K>> {
    const receiver = this.receivers.get(to);
    if (receiver === undefined) throw new PeerCallError("unreachable", `peer ${to} unreachable`);
    let frame: Buffer;
    try {
      frame = encodeRequest(1, name, body);
    } catch (err) {
      throw new PeerCallError("protocol", `cannot send ${name}: ${messageOf(err)}`);
    }
    this.calls++;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new PeerCallError("timeout", `${name} to ${to} timed out`)),
        timerMs(timeoutMs),
      );
      timer.unref();
    });
    // The deadline may pass while the request waits for its turn (below), before the race
    // listens: marked handled here, so that is a timeout, not an unhandled rejection.
    late.catch(() => undefined);
    let reply: Buffer | undefined;
    try {
      // Delivered on a later turn of the event loop, as from a socket, once the current
      // turn has run YIELD_AFTER_MS: a chain of calls answered only through promises would
      // never let timers run (2,000 joins in a row starved every node's timers for 6 s, and
      // all of them then believed they were paused).
      if (performance.now() - this.turnStarted > YIELD_AFTER_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.turnStarted = performance.now();
      }
      const answer = receiver(frame.subarray(PEER_FRAME_HEADER_BYTES), from).catch((err) => {
        throw new PeerCallError("protocol", `peer ${to} refused ${name}: ${messageOf(err)}`);
      });
      reply = await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
    if (reply === undefined) throw new PeerCallError("unreachable", `peer ${to} unreachable`);
    try {
      const msg = decodePayload(reply.subarray(PEER_FRAME_HEADER_BYTES));
      if (msg.kind === "error")
        throw new PeerCallError("remote", msg.msg === "" ? msg.code : msg.msg);
      if (msg.kind !== "reply") throw new PeerProtocolError(`${msg.kind} frame as a reply`);
      return checkReply(name, msg.body);
    } catch (err) {
      if (err instanceof PeerCallError) throw err;
      throw new PeerCallError("protocol", `peer ${to} broke the protocol: ${messageOf(err)}`);
    }
  }
}
