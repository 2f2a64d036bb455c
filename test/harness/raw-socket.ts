// A raw TCP client of the DHT API for tests: writes exact bytes (whole, split,
// one byte at a time), collects every byte and frame the node sends back, and
// reports the node's end-of-stream and the socket's close as promises.

import { connect, type Socket } from "node:net";
import { onCleanup } from "./cleanup.js";
import { getMsg, parseReplies, type Reply } from "./wire.js";

interface ReplyWaiter {
  count: number;
  resolve: (replies: Reply[]) => void;
  reject: (err: Error) => void;
}

export class RawClient {
  /** Every frame received so far, in arrival order. */
  readonly replies: Reply[] = [];
  /** Resolves when the socket has closed (either side). */
  readonly closed: Promise<void>;
  /** Resolves when the node ended its side (FIN); never if it only reset. */
  readonly ended: Promise<void>;
  isClosed = false;
  /** True once the node ended its side in order (FIN), as opposed to a reset. */
  endedByPeer = false;
  /** The first socket error, if any (e.g. ECONNRESET when the node destroys). */
  error: Error | undefined;
  private readonly chunks: Buffer[] = [];
  private pending: Buffer = Buffer.alloc(0);
  private waiters: ReplyWaiter[] = [];

  private constructor(readonly socket: Socket) {
    this.localPort = socket.localPort ?? 0;
    const unregister = onCleanup(() => {
      socket.destroy();
    });
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => {
      this.error ??= err;
    });
    this.ended = new Promise((resolve) =>
      socket.once("end", () => {
        this.endedByPeer = true;
        resolve();
      }),
    );
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.isClosed = true;
        unregister();
        const waiters = this.waiters;
        this.waiters = [];
        for (const w of waiters) {
          w.reject(
            new Error(
              `connection closed after ${this.replies.length} of ${w.count} replies` +
                (this.error === undefined ? "" : ` (${this.error.message})`),
            ),
          );
        }
        resolve();
      }),
    );
  }

  static connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new RawClient(socket));
      });
    });
  }

  /** The client's own port: how the node's logs name this connection. */
  readonly localPort: number;

  /** Every byte received so far. */
  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get bytesReceived(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }

  /** Writes bytes; resolves once the socket has handed them to the kernel. */
  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * Writes one byte per socket write, waiting for each write's callback, and
   * then for `between` (e.g. a round trip on another connection, so the node
   * has read that byte before the next is sent).
   */
  async writeBytewise(bytes: Buffer, between?: () => Promise<void>): Promise<void> {
    for (let i = 0; i < bytes.length; i++) {
      await this.write(bytes.subarray(i, i + 1));
      await between?.();
    }
  }

  /** Resolves once `count` frames in total have arrived; rejects if the socket closes first. */
  waitForReplies(count: number): Promise<Reply[]> {
    if (this.replies.length >= count) return Promise.resolve(this.replies.slice(0, count));
    if (this.isClosed) {
      return Promise.reject(
        new Error(`connection closed after ${this.replies.length} of ${count} replies`),
      );
    }
    return new Promise((resolve, reject) => this.waiters.push({ count, resolve, reject }));
  }

  /** Sends a GET and resolves with the next reply for that key (SUCCESS value or undefined). */
  async get(key: Buffer): Promise<Buffer | undefined> {
    const before = this.replies.length;
    await this.write(getMsg(key));
    for (let seen = before; ; seen++) {
      const [reply] = (await this.waitForReplies(seen + 1)).slice(seen);
      if (reply === undefined || !reply.key.equals(key)) continue;
      if (reply.type === 652) return reply.value;
      if (reply.type === 653) return undefined;
      throw new Error(`unexpected reply type ${reply.type}`);
    }
  }

  /** Half-closes: no more requests, replies may still arrive. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    try {
      const { replies, rest } = parseReplies(this.pending);
      this.pending = Buffer.from(rest);
      this.replies.push(...replies);
    } catch (err) {
      this.error ??= err as Error;
      this.socket.destroy();
      return;
    }
    const ready = this.waiters.filter((w) => this.replies.length >= w.count);
    this.waiters = this.waiters.filter((w) => this.replies.length < w.count);
    for (const w of ready) w.resolve(this.replies.slice(0, w.count));
  }
}
