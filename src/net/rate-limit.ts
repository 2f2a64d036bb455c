// Requests per second per peer address: a token bucket kept as one number per
// peer, the time at which its bucket is full again (GCRA, the "virtual
// scheduling" form of a token bucket). A peer whose bucket is full again
// holds no entry: entries are swept as the map grows, so the memory follows
// the peers active within the last burst / perSecond seconds, not every peer
// ever heard from.

/** At most this many peers are tracked; beyond it the table starts afresh. */
const MAX_PEERS = 16_384;
/** A refused peer is reported at most this often. */
const REPORT_EVERY_MS = 1000;

export type RateVerdict = "allow" | "refuse" | "refuse-and-report";

export class PeerRateLimiter {
  /** By peer address: when its bucket is full again (ms, the caller's clock). */
  private readonly fullAt = new Map<string, number>();
  /** By peer address: when it was last reported (refused peers only). */
  private readonly reported = new Map<string, number>();
  private sweepAt = 64;

  constructor(
    readonly perSecond: number,
    readonly burst: number,
  ) {}

  /** Peers with a bucket below full (tests). */
  get tracked(): number {
    return this.fullAt.size;
  }

  /** Takes one token from `addr`'s bucket, if it has one. */
  take(addr: string, now: number): RateVerdict {
    const msPerToken = 1000 / this.perSecond;
    const full = Math.max(this.fullAt.get(addr) ?? now, now);
    // The bucket holds burst - (full - now) / msPerToken tokens.
    if (full - now <= (this.burst - 1) * msPerToken) {
      if (!this.fullAt.has(addr)) this.grow(now);
      this.fullAt.set(addr, full + msPerToken);
      return "allow";
    }
    const last = this.reported.get(addr);
    if (last !== undefined && now - last < REPORT_EVERY_MS) return "refuse";
    this.reported.set(addr, now);
    return "refuse-and-report";
  }

  /** Before a new entry: drop the full buckets once the map doubled since the last sweep. */
  private grow(now: number): void {
    if (this.fullAt.size < this.sweepAt && this.fullAt.size < MAX_PEERS) return;
    if (this.fullAt.size >= MAX_PEERS) this.fullAt.clear();
    if (this.reported.size >= MAX_PEERS) this.reported.clear();
    for (const [addr, full] of this.fullAt) if (full <= now) this.fullAt.delete(addr);
    for (const [addr, at] of this.reported)
      if (now - at >= REPORT_EVERY_MS) this.reported.delete(addr);
    this.sweepAt = Math.min(MAX_PEERS, Math.max(64, 2 * this.fullAt.size));
  }
}
