// Notices that this process was paused (SIGSTOP, a VM freeze, a starved event
// loop): a timer armed every threshold / 2 that fires more than `thresholdMs`
// late means the node missed that long of the ring's life. The node then
// catches up (chord-node.ts) before it answers as owner again.
// The nodes on one clock with one threshold share one timer (a pause stops
// them all alike): a testnet of 2,000 nodes arms one timer a second, not 2,000.

import type { Clock, TimerHandle } from "../ports.js";

export class PauseWatch {
  private ticker: Ticker | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly thresholdMs: number,
    readonly onPause: (lateMs: number) => void,
  ) {}

  start(): void {
    if (this.ticker !== undefined) return;
    this.ticker = tickerFor(this.clock, this.thresholdMs);
    this.ticker.add(this);
  }

  stop(): void {
    this.ticker?.remove(this);
    this.ticker = undefined;
  }
}

/** One timer for every watch on a clock with a threshold. */
class Ticker {
  private readonly watches = new Set<PauseWatch>();
  private timer: TimerHandle | undefined;
  private due = 0;

  constructor(
    private readonly clock: Clock,
    private readonly thresholdMs: number,
    private readonly done: () => void,
  ) {}

  add(w: PauseWatch): void {
    this.watches.add(w);
    if (this.timer === undefined) this.arm();
  }

  remove(w: PauseWatch): void {
    this.watches.delete(w);
    if (this.watches.size > 0) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.done();
  }

  private arm(): void {
    const every = Math.max(1, Math.floor(this.thresholdMs / 2));
    this.due = this.clock.now() + every;
    this.timer = this.clock.setTimeout(() => this.fire(), every);
  }

  private fire(): void {
    const late = this.clock.now() - this.due;
    this.arm();
    if (late > this.thresholdMs) for (const w of [...this.watches]) w.onPause(late);
  }
}

const tickers = new WeakMap<Clock, Map<number, Ticker>>();

function tickerFor(clock: Clock, thresholdMs: number): Ticker {
  let byThreshold = tickers.get(clock);
  if (byThreshold === undefined) {
    byThreshold = new Map();
    tickers.set(clock, byThreshold);
  }
  let ticker = byThreshold.get(thresholdMs);
  if (ticker === undefined) {
    const made = new Ticker(clock, thresholdMs, () => byThreshold.delete(thresholdMs));
    byThreshold.set(thresholdMs, made);
    ticker = made;
  }
  return ticker;
}
