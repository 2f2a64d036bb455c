// Notices that this process was paused (SIGSTOP, a VM freeze, a starved event
// loop): a timer armed every threshold / 2 that fires more than `thresholdMs`
// late means the node missed that long of the ring's life. The node then
// catches up (chord-node.ts) before it answers as owner again.

import type { Clock, TimerHandle } from "../ports.js";

export class PauseWatch {
  private timer: TimerHandle | undefined;
  private due = 0;

  constructor(
    private readonly clock: Clock,
    private readonly thresholdMs: number,
    private readonly onPause: (lateMs: number) => void,
  ) {}

  start(): void {
    if (this.timer === undefined) this.arm();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(): void {
    const every = Math.max(1, Math.floor(this.thresholdMs / 2));
    this.due = this.clock.now() + every;
    this.timer = this.clock.setTimeout(() => this.fire(), every);
  }

  private fire(): void {
    const late = this.clock.now() - this.due;
    this.arm();
    if (late > this.thresholdMs) this.onPause(late);
  }
}
