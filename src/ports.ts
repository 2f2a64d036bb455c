// The narrow ports between the behaviour (chord/) and the world: time, and the
// DHT service the API server calls. Production wires the system clock; tests
// wire a manual one.

import { GRID_MIN_MS, TimerGrid } from "./timer-grid.js";
import type { NodeRpc, RpcName, RpcReq, RpcRes, WireRecord } from "./wire/peer.js";

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms`; the timer never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

/**
 * A delay rounded up to within 1/64 of itself (whole ms below 64 ms). Node keeps one
 * timer list per distinct duration in a binary heap: thousands of nodes' jittered
 * periods, each a different fraction of a ms, made a list per timer, and the
 * heap's upkeep was 5 % of an idle 2,000-node testnet's CPU.
 */
export function coarseDelay(ms: number): number {
  const d = Math.min(Math.max(ms, 0), 2 ** 31 - 1);
  if (d <= 64) return Math.ceil(d);
  const step = 2 ** Math.floor(Math.log2(d / 64));
  return Math.min(Math.ceil(d / step) * step, 2 ** 31 - 1);
}

const grid = new TimerGrid();

/**
 * The wall clock, and timers that never keep the process alive. Delays of at least
 * GRID_MIN_MS share the process's timer grid (timer-grid.ts: up to 1/8 late, at most
 * 256 ms, so many nodes' upkeep wakes the process once); shorter ones are rounded
 * (coarseDelay).
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    if (ms >= GRID_MIN_MS) return { cancel: grid.set(fn, Math.min(ms, 2 ** 31 - 1)) };
    const t = setTimeout(fn, coarseDelay(ms));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/**
 * Where a node keeps its records across restarts (optional: `data_dir`). The
 * data plane reports every change in order; writes are queued, not awaited
 * one by one, and `durable()` says when everything reported so far would
 * survive the process being killed (and, as chosen by the adapter, a power
 * cut). Records carry their absolute deadline and version.
 */
export interface RecordPersistence {
  /** `rec` is now the record under `key` (32 bytes). */
  put(key: Buffer, rec: WireRecord): void;
  /** No record under `key` any more (dropped, expired). */
  delete(key: Buffer): void;
  /** Resolves once every change reported so far is durable; rejects if one failed. */
  durable(): Promise<void>;
}

/** A PUT as the API delivered it: hints not yet clamped. */
export interface PutRequest {
  key: Buffer;
  value: Buffer;
  /** Seconds; 0 means the node's default. */
  ttl: number;
  /** Copies wanted; 0 means the node's default. */
  replication: number;
}

/** What the API server needs from the node: the DHT service. */
export interface Dht {
  /** Stores a value network-wide; resolves once the responsible node has it. */
  put(req: PutRequest): Promise<void>;
  /** The live value under `key`, or undefined when none can be found in time. */
  get(key: Buffer): Promise<Buffer | undefined>;
  /** Leaves the network gracefully (hand over, close, exit). */
  shutdown(reason: string): void;
}

/**
 * Who sent a request: the caller's P2P address as the transport verified it (the
 * connection's source IP, and a port proven by a challenge sent to that address),
 * and that source IP. Never a claimed string.
 */
export interface PeerCaller {
  readonly addr: string;
  readonly ip: string;
}

/** Handlers of the peer RPCs, one per message type, dispatched from this table. */
export type PeerHandlers = {
  [K in NodeRpc]: (body: RpcReq<K>, from: PeerCaller) => Promise<RpcRes<K>>;
};

/** Misbehaviour a node holds against a peer's IP (see chord/misbehaviour.ts for the weights). */
export type Offence =
  /** A frame that does not decode (bad header, schema violation). */
  | "malformed"
  /** A proof of work or proof of address that does not verify. */
  | "failedProof"
  /** A claim no honest node can make (a split from a node that is not our predecessor...). */
  | "impossibleClaim"
  /** A message that pretends to come from someone else. */
  | "forged"
  /** A reply that is wrong: a lookup step making no progress, a range it does not serve. */
  | "wrongAnswer"
  /** A timeout, or a frame that does not finish arriving. Honest nodes are slow too. */
  | "slow"
  /** A request or connection refused by a rate limit or cap. */
  | "rateLimited";

/** The transport's view of misbehaviour scoring: report offences, refuse banned IPs. */
export interface PeerGuard {
  banned(ip: string): boolean;
  report(ip: string, offence: Offence, detail: string): void;
}

export type PeerCallFailure = "timeout" | "unreachable" | "remote" | "protocol" | "closed";

/** A peer call that did not produce a valid reply. */
export class PeerCallError extends Error {
  override readonly name = "PeerCallError";
  constructor(
    readonly code: PeerCallFailure,
    message: string,
  ) {
    super(message);
  }
}

/**
 * How a node talks to its peers: request/reply with a deadline. Real TCP in
 * production (net/tcp-transport.ts), in memory in simulations (sim/).
 */
export interface PeerTransport {
  /** This node's P2P address as its peers reach it ("host:port"). */
  readonly address: string;
  /** Calls `name` at `to`; rejects with PeerCallError, never hangs past `timeoutMs`. */
  call<K extends RpcName>(
    to: string,
    name: K,
    body: RpcReq<K>,
    timeoutMs: number,
  ): Promise<RpcRes<K>>;
  /** Starts answering peers with these handlers (a handler's throw becomes an error reply). */
  serve(handlers: PeerHandlers): Promise<void>;
  /** Stops serving, fails calls in flight with "closed", drops connections. Idempotent. */
  close(): Promise<void>;
}

/** Bulk record traffic that repairs or moves replicas (metrics). */
export type RepairKind = "anti-entropy" | "handoff" | "split" | "handover";

/** How an API request ended (metrics and the per-request debug line). */
export type ApiOutcome = "ok" | "found" | "not_found" | "failed" | "refused";

/**
 * What a node reports as it works, for its metrics (admin/metrics.ts). Every
 * method is optional to call sites through `noObserver`; none may throw.
 */
export interface NodeObserver {
  /** An outgoing peer call ended. */
  peerCall(name: RpcName, outcome: "ok" | PeerCallFailure): void;
  /** A peer's request to us was handled (ok) or answered with an error. */
  peerServed(name: RpcName, ok: boolean): void;
  /** A lookup this node started found its answer after `hops` hops. */
  lookupHops(hops: number): void;
  /** Records (and their value bytes) sent to or taken from a peer by repair or transfer. */
  repair(kind: RepairKind, direction: "sent" | "received", records: number, bytes: number): void;
  /** One API request answered: its type, outcome and duration in seconds. */
  apiRequest(type: "put" | "get" | "shutdown", outcome: ApiOutcome, seconds: number): void;
}

/** An observer that records nothing (tests, simulations, nodes without metrics). */
export const noObserver: NodeObserver = {
  peerCall: () => {},
  peerServed: () => {},
  lookupHops: () => {},
  repair: () => {},
  apiRequest: () => {},
};
