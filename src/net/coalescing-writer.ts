// Coalesced writes: every reply queued during one event-loop turn leaves in a
// single socket write, scheduled with setImmediate. Reports when the socket's
// buffer is full so the reader can stop taking requests (backpressure).

import type { Socket } from "node:net";

export class CoalescingWriter {
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private scheduled = false;

  constructor(
    private readonly socket: Socket,
    private readonly onBlocked: () => void,
    private readonly onFlushed: () => void = () => {},
  ) {}

  write(buf: Buffer): void {
    this.queue.push(buf);
    this.queuedBytes += buf.length;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  /** True while nothing waits in the queue. */
  get idle(): boolean {
    return this.queue.length === 0;
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.queue.length === 0 || this.socket.destroyed) return;
    const data =
      this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue, this.queuedBytes);
    this.queue = [];
    this.queuedBytes = 0;
    if (!this.socket.write(data)) this.onBlocked();
    else this.onFlushed();
  };
}
