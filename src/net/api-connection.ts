// One API client connection: pipelined requests, replies as soon as ready (any
// order), read-your-writes, coalesced writes, and bounded memory: reading
// pauses while too many GETs are in flight or the socket's send buffer is full.
// Malformed input, or a message left half-sent past its deadline: one warning
// naming client and reason; that connection closes. The connection tracks when
// it was last active, so the server can tell which one has been idle longest.

import type { Socket } from "node:net";
import type { Logger } from "../log.js";
import type { ApiOutcome, Dht, NodeObserver } from "../ports.js";
import { type ApiGet, ApiProtocolError, type ApiPut, decodeApi, encodeApi } from "../wire/api.js";
import { FrameDecoder } from "../wire/frame-decoder.js";
import { type KeyId, keyId } from "../wire/key.js";
import { formatAddress, isLoopback } from "./address.js";
import { CoalescingWriter } from "./coalescing-writer.js";

export interface ConnectionOptions {
  /** GETs in flight before reading pauses. */
  maxInflight: number;
  allowRemoteShutdown: boolean;
  /** A message whose first bytes arrived must be whole within this (ms). */
  partialMessageTimeoutMs: number;
}

export const BAD_INPUT = "bad API input, closing connection";

/** Monotonic milliseconds: activity times never jump with the wall clock. */
export const monotonicMs = (): number => performance.now();

export class ApiConnection {
  readonly client: string;
  /** When the last request arrived, the last one was answered, or the connection opened. */
  lastActive = monotonicMs();
  private readonly decoder = new FrameDecoder("client");
  private readonly writer: CoalescingWriter;
  /** The newest PUT per key still under way: GETs of that key wait for it. */
  private readonly pendingPuts = new Map<KeyId, Promise<void>>();
  private inflight = 0;
  private frames = 0;
  private pausedForInflight = false;
  private pausedForDrain = false;
  private ended = false;
  /** Input read but not yet decoded because reading paused mid-chunk. */
  private unread: Buffer | undefined;
  /** Armed while a message is incomplete and we are reading (not paused by us). */
  private partialTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly deps: { dht: Dht; log: Logger; observer?: NodeObserver },
    private readonly opts: ConnectionOptions,
    /** Called whenever lastActive moves on. */
    private readonly onActive: (conn: ApiConnection) => void,
  ) {
    this.client = formatAddress({
      host: socket.remoteAddress ?? "?",
      port: socket.remotePort ?? 0,
    });
    this.writer = new CoalescingWriter(
      socket,
      () => this.pauseForDrain(),
      () => this.resumeIfClear(),
    );
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => {
      this.ended = true;
      this.stopPartialClock(); // an incomplete message now never completes; it is dropped
      this.finishIfDone();
    });
    socket.on("drain", () => {
      this.pausedForDrain = false;
      this.resumeIfClear();
    });
    socket.on("error", (err) => deps.log.debug({ client: this.client, err }, "API socket error"));
    socket.once("close", () => this.stopPartialClock());
  }

  /** A request is in flight or a PUT is still under way. */
  get busy(): boolean {
    return this.inflight > 0 || this.pendingPuts.size > 0;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private touch(): void {
    this.lastActive = monotonicMs();
    this.onActive(this);
  }

  private onData(chunk: Buffer): void {
    const framesBefore = this.frames;
    const hadPartial = this.decoder.buffered > 0;
    try {
      this.unread = this.decoder.push(chunk, this.onFrame);
    } catch (err) {
      if (!(err instanceof ApiProtocolError)) throw err;
      this.closeForBadInput(err.message);
      return;
    }
    const completed = this.frames > framesBefore;
    if (completed) this.touch();
    if (this.decoder.buffered === 0) this.stopPartialClock();
    else if (completed || !hadPartial || this.partialTimer === undefined) this.startPartialClock();
  }

  /** Handles one frame; false stops the decoder (reading is paused). */
  private readonly onFrame = (frame: Buffer): boolean => {
    if (this.socket.destroyed) return false;
    this.frames++;
    const msg = decodeApi(frame, "client");
    if (msg.type === "put") this.onPut(msg);
    else if (msg.type === "get") this.onGet(msg);
    else this.onShutdown();
    return !this.pausedForInflight && !this.pausedForDrain;
  };

  private closeForBadInput(reason: string): void {
    this.deps.log.warn({ client: this.client, reason }, BAD_INPUT);
    this.socket.destroy();
  }

  /** A new incomplete message: its deadline runs from now. */
  private startPartialClock(): void {
    if (this.socket.destroyed) return;
    if (this.partialTimer !== undefined) this.partialTimer.refresh();
    else {
      this.partialTimer = setTimeout(this.onPartialTimeout, this.opts.partialMessageTimeoutMs);
      this.partialTimer.unref();
    }
  }

  private stopPartialClock(): void {
    if (this.partialTimer === undefined) return;
    clearTimeout(this.partialTimer);
    this.partialTimer = undefined;
  }

  private readonly onPartialTimeout = (): void => {
    this.partialTimer = undefined;
    if (this.socket.destroyed || this.decoder.buffered === 0) return;
    this.closeForBadInput(
      `message incomplete ${this.opts.partialMessageTimeoutMs} ms after its first bytes ` +
        `(${this.decoder.buffered} of ${this.decoder.expected} bytes)`,
    );
  };

  /** One API request answered: metrics, and one debug line (type, key prefix, outcome, µs). */
  private done(
    type: "put" | "get" | "shutdown",
    key: Buffer | undefined,
    outcome: ApiOutcome,
    started: number,
  ): void {
    const ms = monotonicMs() - started;
    this.deps.observer?.apiRequest(type, outcome, ms / 1000);
    if (this.deps.log.isLevelEnabled("debug"))
      this.deps.log.debug(
        {
          client: this.client,
          type,
          ...(key === undefined ? {} : { key: key.subarray(0, 4).toString("hex") }),
          outcome,
          us: Math.round(ms * 1000),
        },
        "API request",
      );
  }

  private onPut(msg: ApiPut): void {
    const started = monotonicMs();
    const key = Buffer.from(msg.key);
    const id = keyId(key);
    const done = this.deps.dht
      .put({ key, value: Buffer.from(msg.value), ttl: msg.ttl, replication: msg.replication })
      .then(
        () => this.done("put", key, "ok", started),
        (err: unknown) => {
          this.done("put", key, "failed", started);
          this.deps.log.debug(
            { client: this.client, reason: (err as Error).message },
            "PUT failed",
          );
        },
      );
    this.pendingPuts.set(id, done);
    void done.then(() => {
      if (this.pendingPuts.get(id) !== done) return;
      this.pendingPuts.delete(id);
      if (!this.busy) this.touch();
    });
  }

  private onGet(msg: ApiGet): void {
    const started = monotonicMs();
    const key = Buffer.from(msg.key);
    const prior = this.pendingPuts.get(keyId(key));
    this.inflight++;
    if (this.inflight >= this.opts.maxInflight && !this.pausedForInflight) {
      this.pausedForInflight = true;
      this.socket.pause();
    }
    const lookup =
      prior === undefined ? this.deps.dht.get(key) : prior.then(() => this.deps.dht.get(key));
    lookup.then(
      (value) => {
        this.done("get", key, value === undefined ? "not_found" : "found", started);
        this.reply(key, value);
      },
      (err: unknown) => {
        this.done("get", key, "failed", started);
        this.deps.log.debug({ client: this.client, reason: (err as Error).message }, "GET failed");
        this.reply(key, undefined);
      },
    );
  }

  private reply(key: Buffer, value: Buffer | undefined): void {
    this.inflight--;
    if (!this.socket.destroyed) {
      this.writer.write(
        value === undefined
          ? encodeApi({ type: "failure", key })
          : encodeApi({ type: "success", key, value }),
      );
    }
    if (this.pausedForInflight && this.inflight <= this.opts.maxInflight / 2) {
      // Reading resumes once the writer has flushed these replies (onFlushed).
      this.pausedForInflight = false;
    }
    if (!this.busy) this.touch();
    this.finishIfDone();
  }

  private onShutdown(): void {
    const started = monotonicMs();
    if (!this.opts.allowRemoteShutdown && !isLoopback(this.socket.remoteAddress)) {
      this.done("shutdown", undefined, "refused", started);
      this.closeForBadInput("DHT SHUTDOWN from a non-loopback client");
      return;
    }
    this.done("shutdown", undefined, "ok", started);
    this.deps.log.info({ client: this.client }, "DHT SHUTDOWN received");
    this.deps.dht.shutdown(`DHT SHUTDOWN from ${this.client}`);
  }

  /** While we do not read, the client cannot finish a message: its deadline waits. */
  private pauseForDrain(): void {
    this.pausedForDrain = true;
    this.socket.pause();
    this.stopPartialClock();
  }

  private resumeIfClear(): void {
    if (this.pausedForDrain || this.pausedForInflight || this.socket.destroyed) return;
    const unread = this.unread;
    if (unread !== undefined) {
      this.unread = undefined;
      this.onData(unread);
      if (this.pausedForDrain || this.pausedForInflight) return;
    }
    if (this.decoder.buffered > 0 && this.partialTimer === undefined) this.startPartialClock();
    this.socket.resume();
  }

  /** After the client half-closes, answer what is in flight, then close. */
  private finishIfDone(): void {
    if (!this.ended || this.inflight > 0) return;
    this.writer.flush();
    this.socket.end();
  }
}
