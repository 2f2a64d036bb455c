// A Clock whose time moves only when a test says so. Policy: timers wait in a
// priority queue ordered by due time, ties in insertion order; delays round up
// to whole milliseconds, at least 1 and at most 2^31-1 (as Node's timers do),
// so a timer never fires in the tick that armed it. advance() walks forward in
// 1 ms ticks but jumps idle gaps straight to the next due timer. Before the
// first tick, and after every tick that fired timers, it drains the microtask
// queue (one setImmediate turn), so promise chains settle at the time they
// were started, before time moves on.
// Cancelled timers are dropped lazily, and the queue is compacted when they
// outnumber the live ones.

import TinyQueue from "tinyqueue";
import type { Clock, TimerHandle } from "../ports.js";

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  /** Fired or cancelled. */
  done: boolean;
}

const byDueThenArmed = (a: Timer, b: Timer): number => a.at - b.at || a.seq - b.seq;
const MAX_DELAY_MS = 2 ** 31 - 1;
/** Compaction never runs for fewer cancelled timers than this. */
const COMPACT_MIN = 1024;

/** Resolves after every microtask queued so far, and every one they queue, has run. */
export const drainMicrotasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class ManualClock implements Clock {
  private time: number;
  private queue = new TinyQueue<Timer>([], byDueThenArmed);
  private armed = 0;
  private live = 0;
  /** Cancelled timers still sitting in the queue. */
  private cancelled = 0;
  private running = false;

  constructor(epochMs = 1_700_000_000_000) {
    this.time = epochMs;
  }

  now(): number {
    return this.time;
  }

  /** Timers armed and neither fired nor cancelled. */
  get pending(): number {
    return this.live;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const delay = Number.isNaN(ms) ? 1 : Math.min(Math.max(Math.ceil(ms), 1), MAX_DELAY_MS);
    const timer: Timer = { at: this.time + delay, seq: this.armed++, fn, done: false };
    this.queue.push(timer);
    this.live++;
    return { cancel: () => this.cancel(timer) };
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way.
   * A timer's throw propagates out of advance (time stays at its tick).
   */
  async advance(ms: number): Promise<void> {
    const target = this.time + Math.max(ms, 0);
    await this.exclusive(async () => {
      await drainMicrotasks();
      while (await this.tick(target)) {
        // every due timer of one tick fired; go on to the next
      }
      this.time = target;
    });
  }

  /**
   * Advances until `predicate()` holds (checked once pending microtasks have
   * run, then after each tick that fired timers) or `maxMs` pass. Returns
   * whether it came true.
   */
  async runUntil(predicate: () => boolean, maxMs: number): Promise<boolean> {
    const deadline = this.time + Math.max(maxMs, 0);
    return this.exclusive(async () => {
      await drainMicrotasks();
      if (predicate()) return true;
      while (await this.tick(deadline)) {
        if (predicate()) return true;
      }
      this.time = deadline;
      return predicate();
    });
  }

  /** Fires the timers of the next busy tick at or before `limit`; false when there is none. */
  private async tick(limit: number): Promise<boolean> {
    const first = this.peekLive();
    if (first === undefined || first.at > limit) return false;
    this.time = first.at;
    for (let next: Timer | undefined = first; next?.at === this.time; next = this.peekLive()) {
      this.queue.pop();
      next.done = true;
      this.live--;
      next.fn();
    }
    await drainMicrotasks();
    return true;
  }

  private peekLive(): Timer | undefined {
    let head = this.queue.peek();
    while (head?.done) {
      this.queue.pop();
      this.cancelled--;
      head = this.queue.peek();
    }
    return head;
  }

  private cancel(timer: Timer): void {
    if (timer.done) return;
    timer.done = true;
    this.live--;
    this.cancelled++;
    if (this.cancelled > COMPACT_MIN && this.cancelled * 2 > this.queue.length) {
      this.queue = new TinyQueue(
        this.queue.data.filter((t) => !t.done),
        byDueThenArmed,
      );
      this.cancelled = 0;
    }
  }

  /** Runs one advance at a time: two interleaved walks through time are a test bug. */
  private async exclusive<T>(run: () => Promise<T>): Promise<T> {
    if (this.running) throw new Error("ManualClock: advance/runUntil already in progress");
    this.running = true;
    try {
      return await run();
    } finally {
      this.running = false;
    }
  }
}
