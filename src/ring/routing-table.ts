// A node's view of the ring: itself, its predecessor, its successor list
// (length r, nearest first, never itself) and its finger table. Pure state
// with the Chord queries over it; every rule names its interval (ring/interval.ts).
// Fingers only speed lookups up: owner and next-hop answers stay correct with
// the successor list alone.

import { ID_BITS, type Id, nodeIdOf } from "./id.js";
import { between, betweenRightIncl } from "./interval.js";

export interface Peer {
  readonly id: Id;
  /** P2P address, "host:port". */
  readonly addr: string;
}

const peerCache = new Map<string, Peer>();

/** The peer at a P2P address; its ID is derived, never taken from the wire. */
export function peerAt(addr: string): Peer {
  let peer = peerCache.get(addr);
  if (peer === undefined) {
    if (peerCache.size >= 65_536) peerCache.clear();
    peer = { id: nodeIdOf(addr), addr };
    peerCache.set(addr, peer);
  }
  return peer;
}

export class RoutingTable {
  private pred: Peer | undefined;
  private succs: Peer[] = [];
  private readonly fingers: (Peer | undefined)[] = new Array(ID_BITS).fill(undefined);
  private fingerPeers: Peer[] = [];

  constructor(
    readonly self: Peer,
    /** Successor list length r. */
    readonly r: number,
  ) {}

  get predecessor(): Peer | undefined {
    return this.pred;
  }

  /** The successor list, nearest first; empty while the node is alone. */
  get successors(): readonly Peer[] {
    return this.succs;
  }

  /** The first successor, or the node itself while alone. */
  successor(): Peer {
    return this.succs[0] ?? this.self;
  }

  get alone(): boolean {
    return this.succs.length === 0;
  }

  setPredecessor(peer: Peer | undefined): void {
    this.pred = peer?.id === this.self.id ? undefined : peer;
  }

  /** Replaces the successor list: self and duplicates dropped, cut to r. */
  setSuccessors(list: readonly Peer[]): void {
    const seen = new Set<Id>([this.self.id]);
    const out: Peer[] = [];
    for (const p of list) {
      if (seen.has(p.id)) continue;
      seen.add(p.id);
      out.push(p);
      if (out.length === this.r) break;
    }
    this.succs = out;
  }

  /** Sets fingers from..to (inclusive) to one peer. */
  setFingers(from: number, to: number, peer: Peer | undefined): void {
    const value = peer?.id === this.self.id ? undefined : peer;
    let changed = false;
    for (let i = from; i <= to; i++) {
      if (this.fingers[i] === value) continue;
      this.fingers[i] = value;
      changed = true;
    }
    if (!changed) return; // a settled ring's finger fixing mostly finds what it had
    const unique = new Map<Id, Peer>();
    for (const f of this.fingers) if (f !== undefined) unique.set(f.id, f);
    this.fingerPeers = [...unique.values()];
  }

  finger(i: number): Peer | undefined {
    return this.fingers[i];
  }

  /** Forgets a peer found dead: routed around at once. Returns whether it was known. */
  removePeer(id: Id): boolean {
    let known = false;
    if (this.pred?.id === id) {
      this.pred = undefined;
      known = true;
    }
    const succs = this.succs.filter((p) => p.id !== id);
    if (succs.length !== this.succs.length) {
      this.succs = succs;
      known = true;
    }
    if (this.fingerPeers.some((p) => p.id === id)) {
      for (let i = 0; i < ID_BITS; i++) if (this.fingers[i]?.id === id) this.fingers[i] = undefined;
      this.fingerPeers = this.fingerPeers.filter((p) => p.id !== id);
      known = true;
    }
    return known;
  }

  /** Whether this node is responsible for `pos`: pos in (pred, self], or it is alone. */
  owns(pos: Id): boolean {
    if (this.alone) return true;
    return this.pred !== undefined && betweenRightIncl(this.pred.id, pos, this.self.id);
  }

  /** Whether `pos` belongs to the first successor: pos in (self, successor]. */
  successorOwns(pos: Id): boolean {
    return !this.alone && betweenRightIncl(this.self.id, pos, this.successor().id);
  }

  /**
   * Known peers in (self, pos), closest preceding `pos` first: the next hops
   * of a lookup, from fingers and successors together.
   */
  closestPreceding(pos: Id): Peer[] {
    const self = this.self.id;
    // The finger peers are distinct already (setFingers); a successor is skipped when a
    // finger named it. A few dozen peers at most: a scan beats a set's hashing of 64-digit IDs.
    const out: Peer[] = [];
    for (const p of this.fingerPeers) if (between(self, p.id, pos)) out.push(p);
    const fingers = out.length;
    for (const p of this.succs) {
      if (!between(self, p.id, pos)) continue;
      let dup = false;
      for (let i = 0; i < fingers && !dup; i++) dup = out[i]!.id === p.id;
      if (!dup) out.push(p);
    }
    // Farther from self clockwise = closer to pos: a precedes b when b lies in (self, a).
    return out.sort((a, b) => (between(self, b.id, a.id) ? -1 : 1));
  }

  /** Whether the table holds `id` as predecessor, successor or finger (no allocation). */
  has(id: Id): boolean {
    return (
      this.pred?.id === id ||
      this.succs.some((p) => p.id === id) ||
      this.fingerPeers.some((p) => p.id === id)
    );
  }

  /** Calls `fn` for the predecessor, successors and fingers; a peer may come more than once. */
  forEachEntry(fn: (p: Peer) => void): void {
    if (this.pred !== undefined) fn(this.pred);
    for (const p of this.succs) fn(p);
    for (const p of this.fingerPeers) fn(p);
  }

  /** Every distinct peer this table knows (for diagnostics). */
  knownPeers(): Peer[] {
    const all = new Map<Id, Peer>();
    for (const p of [...this.succs, ...this.fingerPeers]) all.set(p.id, p);
    if (this.pred !== undefined) all.set(this.pred.id, this.pred);
    return [...all.values()];
  }
}
