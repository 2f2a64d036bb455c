// The system clock's long timers share a grid, so an idle process wakes a few
// times a second, not once per timer. Policy:
// - A delay of at least GRID_MIN_MS is rounded up so that its deadline falls
//   on a multiple of a step: the largest power of two not above delay / 8,
//   capped at MAX_STEP_MS. A timer so fires at most 1/8 of its delay (and at
//   most MAX_STEP_MS) late, never early by more than EARLY_MS.
// - Every timer of the process whose deadline falls on the same grid point
//   runs in one turn of the event loop, in the order they were set; one Node
//   timer is armed, for the earliest point. Upkeep periods are jittered
//   0.5x-1.5x (chord/periodic.ts), so they spread over the points as before;
//   what is saved is a wake-up of the process, its cold caches and its
//   microtask drain per timer. An idle 100-node testnet woke about 200 times a
//   second, one timer each.
// - Shorter delays (read grace, retries) keep Node's own timers.
// - Nothing here keeps the process alive (the Node timer is unref'd).

/** Delays below this keep Node's own timers (rounded: coarseDelay). */
export const GRID_MIN_MS = 256;
/** The coarsest step of the grid. */
export const MAX_STEP_MS = 256;
/** The longest delay Node's setTimeout takes as given. */
const NODE_TIMER_MAX_MS = 2 ** 31 - 1;
/** A point counts as due this much before it (Node's loop time lags the monotonic clock). */
const EARLY_MS = 1;

/** The grid step for a delay: the largest power of two <= delay / 8, at most MAX_STEP_MS. */
export function gridStep(delayMs: number): number {
  return Math.min(MAX_STEP_MS, 2 ** Math.floor(Math.log2(Math.max(delayMs, 8) / 8)));
}

/** The grid point (ms on `now`'s clock) a timer of `delayMs` set at `now` fires at. */
export function gridDeadline(now: number, delayMs: number): number {
  const step = gridStep(delayMs);
  return Math.ceil((now + delayMs) / step) * step;
}

type Entry = () => void;

export class TimerGrid {
  /** Timers by grid point; a cancelled one is deleted from its set. */
  private readonly points = new Map<number, Set<Entry>>();
  /** The grid points with timers, as a binary min-heap. */
  private readonly heap: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Timers waiting (cancelled ones excluded). */
  get size(): number {
    let n = 0;
    for (const set of this.points.values()) n += set.size;
    return n;
  }

  /** Runs `fn` at the grid point for `delayMs` from now; returns the cancel. */
  set(fn: () => void, delayMs: number): () => void {
    const at = gridDeadline(this.now(), delayMs);
    let set = this.points.get(at);
    if (set === undefined) {
      set = new Set();
      this.points.set(at, set);
      this.push(at);
    }
    // A wrapper per timer, so the same function set twice is two timers.
    const entry: Entry = () => fn();
    set.add(entry);
    this.arm();
    const owner = set;
    return () => {
      owner.delete(entry);
    };
  }

  private arm(): void {
    const at = this.heap[0];
    if (at === undefined || at >= this.armedFor) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = at;
    // Node turns a delay past 2^31 - 1 ms into 1 ms: a far point is re-armed for on waking.
    const ms = Math.min(Math.max(0, Math.ceil(at - this.now())), NODE_TIMER_MAX_MS);
    this.timer = setTimeout(() => this.fire(), ms);
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.now();
    while (this.heap.length > 0 && this.heap[0]! <= now + EARLY_MS) {
      const at = this.pop();
      const set = this.points.get(at);
      this.points.delete(at);
      if (set === undefined) continue;
      for (const entry of set) {
        try {
          entry();
        } catch (err) {
          // As from Node's own timer: an uncaught exception, after the others ran.
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
    this.arm();
  }

  private push(v: number): void {
    const h = this.heap;
    let i = h.length;
    h.push(v);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]! <= v) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = v;
  }

  private pop(): number {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= h.length) break;
        if (c + 1 < h.length && h[c + 1]! < h[c]!) c++;
        if (h[c]! >= last) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
