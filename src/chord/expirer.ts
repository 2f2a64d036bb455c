// Expiry job: one timer, armed for the store's earliest deadline only while
// the store holds something, so an idle node runs no timer at all. Reads
// already hide expired values; this job frees their memory.

import type { Clock, TimerHandle } from "../ports.js";
import type { Store } from "../store/store.js";

export class Expirer {
  private timer: TimerHandle | undefined;
  private armedFor = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly deps: { store: Store; clock: Clock },
    private readonly onSwept: (removed: number) => void = () => {},
  ) {}

  /** Call after every write: re-arms if the store now expires sooner. */
  touch(): void {
    const next = this.deps.store.nextDeadline();
    if (this.stopped || next === undefined || next >= this.armedFor) return;
    this.timer?.cancel();
    this.armedFor = next;
    this.timer = this.deps.clock.setTimeout(() => this.run(), next - this.deps.clock.now() + 1);
  }

  private run(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const removed = this.deps.store.sweep(this.deps.clock.now());
    if (removed > 0) this.onSwept(removed);
    this.touch();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }
}
