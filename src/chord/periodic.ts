// A periodic job with loop hygiene: start() arms it; a run re-arms only after
// it completes, so runs never overlap; delays are jittered 0.5x-1.5x so nodes
// do not synchronise; every failure is caught and logged; stop() is idempotent.

import type { Logger } from "../log.js";
import type { Clock, TimerHandle } from "../ports.js";

export class PeriodicJob {
  private timer: TimerHandle | undefined;
  private stopped = true;
  private running = false;
  /** Set by a trigger during a run: the next run is due this many ms after it ends. */
  private againMs: number | undefined;
  private dueAt = 0;

  constructor(
    private readonly deps: { clock: Clock; random: () => number; log: Logger },
    private readonly name: string,
    private readonly intervalMs: () => number,
    private readonly run: () => Promise<void>,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /**
   * Runs within `ms` (default: as soon as possible; `ms` after the current run,
   * if one is under way). A run already due sooner is not postponed, so a stream of
   * triggers cannot starve the job.
   */
  trigger(ms = 0): void {
    if (this.stopped) return;
    if (this.running) {
      this.againMs = Math.min(this.againMs ?? ms, ms);
      return;
    }
    const at = this.deps.clock.now() + ms;
    if (this.timer !== undefined && this.dueAt <= at) return;
    this.timer?.cancel();
    this.dueAt = at;
    this.timer = this.deps.clock.setTimeout(() => void this.tick(), ms);
  }

  private arm(): void {
    if (this.stopped) return;
    // A trigger during the run asks for `againMs`, but never later than the
    // job's own (jittered) interval.
    const again = this.againMs;
    const soonest = this.intervalMs() * 0.5;
    const delay =
      again !== undefined && again <= soonest
        ? again
        : Math.min(
            again ?? Number.POSITIVE_INFINITY,
            this.intervalMs() * (0.5 + this.deps.random()),
          );
    this.againMs = undefined;
    this.dueAt = this.deps.clock.now() + delay;
    this.timer = this.deps.clock.setTimeout(() => void this.tick(), delay);
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    try {
      await this.run();
    } catch (err) {
      this.deps.log.debug(
        { job: this.name, reason: (err as Error).message },
        "periodic job failed",
      );
    } finally {
      this.running = false;
      this.arm();
    }
  }
}

/** A promise that resolves after `ms` on the injected clock. */
export function delay(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
