// Peers that announced a graceful leave (the `leaving` message), remembered for
// a while: a later failed call to one of them is expected, so it is logged as a
// leave, not a failure, and the peer is not probed as lost (chord/unify.ts).
// Bounded: the oldest entry goes first.

import type { Clock } from "../ports.js";

/** How long a departure is remembered (ms). */
export const DEPARTURE_MEMORY_MS = 10 * 60_000;
/** Departures remembered at most. */
const MAX_DEPARTURES = 1024;

export class Departures {
  private readonly left = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  add(addr: string): void {
    this.left.delete(addr);
    if (this.left.size >= MAX_DEPARTURES) {
      const oldest = this.left.keys().next().value;
      if (oldest !== undefined) this.left.delete(oldest);
    }
    this.left.set(addr, this.clock.now());
  }

  /** Whether `addr` said it was leaving within DEPARTURE_MEMORY_MS. */
  has(addr: string): boolean {
    const at = this.left.get(addr);
    if (at === undefined) return false;
    if (this.clock.now() - at <= DEPARTURE_MEMORY_MS) return true;
    this.left.delete(addr);
    return false;
  }

  /** Up to `max` departures within `withinMs`, newest first (passed on to neighbours). */
  recent(withinMs: number, max: number): string[] {
    const since = this.clock.now() - withinMs;
    const out: string[] = [];
    for (const [addr, at] of [...this.left].reverse()) {
      if (at < since || out.length >= max) break;
      out.push(addr);
    }
    return out;
  }

  /** A node that left and came back (it joins again, or answers): no longer gone. */
  forget(addr: string): void {
    this.left.delete(addr);
  }

  get size(): number {
    return this.left.size;
  }
}
