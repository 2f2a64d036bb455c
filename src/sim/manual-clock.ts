// A Clock whose time moves only when a test says so. Policy: timers fire in
// order of due time, ties in insertion order; delays round up to whole
// milliseconds, at least 1 and at most 2^31-1 (as Node's timers do), so a
// timer never fires in the tick that armed it. advance() walks forward in
// 1 ms ticks but jumps idle gaps straight to the next due timer. Before the
// first tick, and after every tick that fired timers, it drains the microtask
// queue (one setImmediate turn), so promise chains settle at the time they
// were started, before time moves on.
// Timers wait in one bucket per due time (a list in arming order) under a
// priority queue of the distinct due times: arming and firing cost O(1) plus
// one queue operation per new due time, however many timers wait (a
// 10,000-node simulation keeps ~10^5). A cancelled timer's slot is cleared at
// once, so what it holds can be collected; a bucket whose timers were all
// cancelled is skipped without a tick.

import TinyQueue from "tinyqueue";
import type { Clock, TimerHandle } from "../ports.js";

interface Bucket {
  readonly at: number;
  /** Callbacks in arming order; undefined once fired or cancelled. */
  readonly fns: ((() => void) | undefined)[];
  /** The next slot to fire (a throwing timer leaves the rest for the next tick). */
  next: number;
  /** Slots neither fired nor cancelled. */
  live: number;
}

const MAX_DELAY_MS = 2 ** 31 - 1;

/** Resolves after every microtask queued so far, and every one they queue, has run. */
export const drainMicrotasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class ManualClock implements Clock {
  private time: number;
  private readonly buckets = new Map<number, Bucket>();
  /** The due times of the buckets, earliest first. */
  private readonly times = new TinyQueue<number>([], (a, b) => a - b);
  private live = 0;
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
    const at = this.time + delay;
    let bucket = this.buckets.get(at);
    if (bucket === undefined) {
      bucket = { at, fns: [], next: 0, live: 0 };
      this.buckets.set(at, bucket);
      this.times.push(at);
    }
    const b = bucket;
    const slot = b.fns.length;
    b.fns.push(fn);
    b.live++;
    this.live++;
    return {
      cancel: () => {
        if (b.fns[slot] === undefined) return;
        b.fns[slot] = undefined;
        b.live--;
        this.live--;
      },
    };
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
    const b = this.peekLive();
    if (b === undefined || b.at > limit) return false;
    this.time = b.at;
    // Nothing can join this bucket meanwhile: a timer armed now is due 1 ms later at least.
    while (b.next < b.fns.length) {
      const fn = b.fns[b.next];
      b.fns[b.next++] = undefined;
      if (fn === undefined) continue;
      b.live--;
      this.live--;
      fn();
    }
    this.drop(b);
    await drainMicrotasks();
    return true;
  }

  /** The earliest bucket with a live timer; empty ones on the way are dropped. */
  private peekLive(): Bucket | undefined {
    for (let at = this.times.peek(); at !== undefined; at = this.times.peek()) {
      const b = this.buckets.get(at)!;
      if (b.live > 0) return b;
      this.drop(b);
    }
    return undefined;
  }

  private drop(b: Bucket): void {
    this.times.pop();
    this.buckets.delete(b.at);
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
