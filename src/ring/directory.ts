// Every node this node has heard of, sorted by ID: a location cache. The
// successor of a position among them is a guess at its owner, which the
// guessed node confirms or denies (it alone knows its predecessor); a wrong
// or dead guess only costs the full GetNode lookup it would have made anyway.

import type { Id } from "./id.js";
import type { Peer } from "./routing-table.js";

export class RingDirectory {
  private ids: Id[] = [];
  private readonly peers = new Map<Id, Peer>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.ids.length;
  }

  add(peer: Peer): void {
    if (this.peers.has(peer.id) || this.ids.length >= this.capacity) return;
    this.peers.set(peer.id, peer);
    this.ids.splice(this.lowerBound(peer.id), 0, peer.id);
  }

  has(id: Id): boolean {
    return this.peers.has(id);
  }

  /** How many known nodes lie in [from, to) clockwise (none when from === to). */
  countIn(from: Id, to: Id): number {
    if (from === to) return 0;
    const a = this.lowerBound(from);
    const b = this.lowerBound(to);
    return from < to ? b - a : this.ids.length - a + b;
  }

  remove(id: Id): void {
    if (!this.peers.delete(id)) return;
    this.ids.splice(this.lowerBound(id), 1);
  }

  /** The first known node at or after `pos` going clockwise (wrapping), if any. */
  successorOf(pos: Id): Peer | undefined {
    if (this.ids.length === 0) return undefined;
    const at = this.lowerBound(pos);
    return this.peers.get(this.ids[at === this.ids.length ? 0 : at]!);
  }

  /** The last known node strictly before `pos` going clockwise (wrapping), if any. */
  predecessorOf(pos: Id): Peer | undefined {
    if (this.ids.length === 0) return undefined;
    const at = this.lowerBound(pos);
    return this.peers.get(this.ids[at === 0 ? this.ids.length - 1 : at - 1]!);
  }

  /** Up to `k` known nodes clockwise from `pos`: the owner guess and the guessed replicas. */
  successorsOf(pos: Id, k: number): Peer[] {
    const n = Math.min(k, this.ids.length);
    const out: Peer[] = [];
    const start = this.lowerBound(pos);
    for (let i = 0; i < n; i++) out.push(this.peers.get(this.ids[(start + i) % this.ids.length]!)!);
    return out;
  }

  private lowerBound(id: Id): number {
    let lo = 0;
    let hi = this.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ids[mid]! < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
