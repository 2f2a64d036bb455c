// Versions for last-writer-wins: a hybrid logical clock. A version is
// wall-clock microseconds-ish (ms x 1000) bumped past every version this node
// has issued or seen, so a node's later write always wins over its earlier
// ones and over any write it has already observed, even if its clock lags.
// ms x 1000 stays below 2^53 until the year 2255.

export class VersionClock {
  private last = 0;

  /** A version newer than every one issued or observed so far. */
  next(nowMs: number): number {
    this.last = Math.max(this.last + 1, Math.floor(nowMs) * 1000);
    return this.last;
  }

  /** Records a version seen from elsewhere, so later ones exceed it. */
  observe(version: number): void {
    if (version > this.last) this.last = version;
  }
}
