// One node's view of the shared clock, stoppable like a process (SIGSTOP /
// SIGCONT). Policy: now() is always the shared time (the wall clock runs on
// for everyone); a timer that falls due while paused waits and fires late on
// resume(), in due order; other work handed to run() while paused (arriving
// requests, replies, the node's own sends) is held and runs after those
// timers, in arrival order, as an event loop runs timers before reading its
// sockets. discard() drops everything held (the process was killed).

import type { Clock, TimerHandle } from "../ports.js";

interface Deferred {
  readonly fn: () => void;
  cancelled: boolean;
}

export class PausableClock implements Clock {
  private stopped = false;
  /** Timers that fell due while paused, in due order. */
  private due: Deferred[] = [];
  /** Other work that arrived while paused, in arrival order. */
  private held: (() => void)[] = [];

  constructor(private readonly base: Clock) {}

  now(): number {
    return this.base.now();
  }

  get paused(): boolean {
    return this.stopped;
  }

  /** Work waiting for resume(): timers due plus held events. */
  get backlog(): number {
    return this.due.filter((d) => !d.cancelled).length + this.held.length;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const entry: Deferred = { fn, cancelled: false };
    const handle = this.base.setTimeout(() => {
      if (this.stopped) this.due.push(entry);
      else fn();
    }, ms);
    return {
      cancel: () => {
        entry.cancelled = true;
        handle.cancel();
      },
    };
  }

  /** Runs `fn` now, or on resume() when paused. */
  run(fn: () => void): void {
    if (this.stopped) this.held.push(fn);
    else fn();
  }

  pause(): void {
    this.stopped = true;
  }

  /** Continues: fires the timers that fell due meanwhile, then the held work. */
  resume(): void {
    if (!this.stopped) return;
    this.stopped = false;
    while (!this.stopped && this.due.length > 0) {
      const timer = this.due.shift()!;
      if (!timer.cancelled) timer.fn();
    }
    while (!this.stopped && this.held.length > 0) this.held.shift()!();
  }

  /** Forgets everything held; a paused clock stays paused, so its timers never fire. */
  discard(): void {
    this.due = [];
    this.held = [];
  }
}
