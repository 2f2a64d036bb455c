// An in-memory network of simulated nodes on one ManualClock. Policy: every
// message (request, reply, connection refusal) crosses its link after a
// seeded random latency, or is lost to the link's drop rate or a partition,
// and then nothing arrives: the caller's own deadline reports "timeout". A call
// to an address nobody serves (never served, closed, killed) is refused:
// "unreachable" one latency later. A request arriving after its callee was
// killed or closed is lost, and so is the reply of a handler whose node died
// meanwhile. Stats count messages sent, delivered, dropped (link), lost (dead
// endpoint), refused, and the frame bytes sent.
// Each node gets its own PausableClock over the shared one: pause(addr) stops
// it like SIGSTOP (it still accepts connections: messages to it wait, and so
// do its timers), resume(addr) lets it catch up; the network and every other
// node keep running meanwhile.

import type { Clock, PeerTransport } from "../ports.js";
import { PeerCallError } from "../ports.js";
import { type LatencyRange, LinkPolicy } from "./links.js";
import type { ManualClock } from "./manual-clock.js";
import { PausableClock } from "./pausable-clock.js";
import type { Random } from "./random.js";
import { type SimReply, SimTransport, type SimWire } from "./transport.js";

export interface SimNetworkDeps {
  clock: ManualClock;
  random: Random;
}

export interface SimNetworkOptions {
  /** Per-message delay range in whole ms; default [1, 5]. */
  latencyMs?: LatencyRange;
  /** Probability that any one message is lost; default 0. */
  dropRate?: number;
}

export interface SimNetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  lost: number;
  refused: number;
  bytes: number;
}

/** A node's two ports: give both to the node, or pause() cannot stop its timers. */
export interface SimEndpoint {
  transport: PeerTransport;
  clock: Clock;
}

export const DEFAULT_LATENCY_MS: LatencyRange = [1, 5];

export class SimNetwork {
  private readonly nodes = new Map<string, SimTransport>();
  private readonly links: LinkPolicy;
  private readonly counts: SimNetworkStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    lost: 0,
    refused: 0,
    bytes: 0,
  };
  private readonly wire: SimWire;

  constructor(
    private readonly deps: SimNetworkDeps,
    opts: SimNetworkOptions = {},
  ) {
    this.links = new LinkPolicy(
      deps.random,
      opts.latencyMs ?? DEFAULT_LATENCY_MS,
      opts.dropRate ?? 0,
    );
    this.wire = {
      request: (caller, to, id, frame) => this.request(caller, to, id, frame),
    };
  }

  /** The transport of a node at `address`; the address may be reused once its last transport closed. */
  transport(address: string): PeerTransport {
    return this.endpoint(address).transport;
  }

  /** The transport and the (pausable) clock of a new node at `address`. */
  endpoint(address: string): SimEndpoint {
    const current = this.nodes.get(address);
    if (current !== undefined && !current.closed) throw new Error(`address ${address} is in use`);
    const transport = new SimTransport(address, this.wire, new PausableClock(this.deps.clock));
    this.nodes.set(address, transport);
    return { transport, clock: transport.clock };
  }

  /**
   * Crashes the node at `address`: it stops serving at once; what is in flight
   * to it, or held while it was paused, is lost.
   */
  kill(address: string): void {
    const transport = this.at(address);
    transport.shutdown(`${address} was killed`);
    transport.clock.discard();
  }

  /** Stops the node at `address` like SIGSTOP: nothing it receives or arms runs until resume(). */
  pause(address: string): void {
    this.at(address).pause();
  }

  /** Continues a paused node: its overdue timers fire, then what it received meanwhile. */
  resume(address: string): void {
    this.at(address).resume();
  }

  isPaused(address: string): boolean {
    return this.nodes.get(address)?.clock.paused ?? false;
  }

  /** Whether a node at `address` answers requests now. */
  isServing(address: string): boolean {
    return this.nodes.get(address)?.serving ?? false;
  }

  /** Cuts every link between the two groups, both ways, until heal(). Cuts accumulate. */
  partition(groupA: readonly string[], groupB: readonly string[]): void {
    this.links.partition(groupA, groupB);
  }

  /** Removes every partition (drop rates and latencies stay). */
  heal(): void {
    this.links.heal();
  }

  /** The network-wide drop rate, for links without their own. */
  setDrop(rate: number): void {
    this.links.setDrop(rate);
  }

  /** The drop rate of messages from → to (one direction); undefined removes the override. */
  setLinkDrop(from: string, to: string, rate: number | undefined): void {
    this.links.setLinkDrop(from, to, rate);
  }

  /** The latency of messages from → to (one direction); undefined removes the override. */
  setLinkLatency(from: string, to: string, range: LatencyRange | undefined): void {
    this.links.setLinkLatency(from, to, range);
  }

  private at(address: string): SimTransport {
    const transport = this.nodes.get(address);
    if (transport === undefined) throw new Error(`no node at ${address}`);
    return transport;
  }

  /** A snapshot of the counters. */
  get stats(): SimNetworkStats {
    return { ...this.counts };
  }

  private request(caller: SimTransport, to: string, id: number, frame: Buffer): void {
    const callee = this.nodes.get(to);
    if (callee === undefined || !callee.serving) {
      this.counts.refused++;
      const refusal = new PeerCallError("unreachable", `${to} refused the connection`);
      this.post(caller.address, to, 0, () => caller.deliver(id, refusal));
      return;
    }
    this.post(caller.address, to, frame.length, () => {
      if (!callee.serving) return false;
      callee.receive(caller.address, frame, (reply) => this.reply(callee, caller, id, reply));
      return true;
    });
  }

  private reply(callee: SimTransport, caller: SimTransport, id: number, reply: SimReply): void {
    if (!callee.serving) {
      this.counts.lost++;
      return;
    }
    const bytes = Buffer.isBuffer(reply) ? reply.length : 0;
    this.post(callee.address, caller.address, bytes, () => caller.deliver(id, reply));
  }

  /** Sends one message: `arrive` runs after the link's latency unless the link loses it. */
  private post(from: string, to: string, bytes: number, arrive: () => boolean): void {
    this.counts.sent++;
    this.counts.bytes += bytes;
    const delay = this.links.route(from, to);
    if (delay === undefined) {
      this.counts.dropped++;
      return;
    }
    this.deps.clock.setTimeout(() => {
      if (arrive()) this.counts.delivered++;
      else this.counts.lost++;
    }, delay);
  }
}
