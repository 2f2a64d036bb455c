// How fast a node's upkeep runs: fast while the ring around it changes, slow
// while it is stable. Policy: every upkeep cadence (stabilize, predecessor
// check, finger fixing, anti-entropy) is its base period times `factor`. A
// stabilize run that changed nothing doubles the factor, up to MAX_CALM; any
// change of the successor list, the predecessor or the owned range, a failed
// peer or a pause sets it back to 1 at once, and the slowed jobs are pulled
// forward. A formed, idle ring so sends a few messages per node every few
// seconds, whatever its size; a ring that changes repairs at full speed.

/** The slowest upkeep runs at this many times its base period. */
export const MAX_CALM = 8;
/**
 * Anti-entropy slows down at most this much: an idle owner then reaches each of its
 * replication - 1 replicas at least every (replication - 1) x 1.5 x AE_MAX_CALM x
 * antiEntropyMs.
 */
export const AE_MAX_CALM = 4;

export class Calm {
  private f = 1;

  constructor(private readonly onWake: () => void) {}

  /** The current slowdown of every upkeep cadence (1 to MAX_CALM). */
  get factor(): number {
    return this.f;
  }

  /** A stabilize run found nothing to change. */
  quiet(): void {
    this.f = Math.min(this.f * 2, MAX_CALM);
  }

  /** The ring around this node changed: back to full speed. */
  wake(): void {
    if (this.f === 1) return;
    this.f = 1;
    this.onWake();
  }
}
