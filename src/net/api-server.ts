// The API server: one TCP listener for the node's clients. Pipelined requests,
// replies as soon as ready (any order), read-your-writes per connection,
// coalesced writes, and bounded memory per connection: reading pauses while
// too many GETs are in flight or the socket's send buffer is full.
// Malformed input: one warning naming client and reason; that connection closes.

import { createServer, type Server, type Socket } from "node:net";
import type { Logger } from "../log.js";
import type { Dht } from "../ports.js";
import { type ApiGet, ApiProtocolError, type ApiPut, decodeApi, encodeApi } from "../wire/api.js";
import { FrameDecoder } from "../wire/frame-decoder.js";
import { type KeyId, keyId } from "../wire/key.js";
import { type Address, formatAddress, isLoopback } from "./address.js";
import { CoalescingWriter } from "./coalescing-writer.js";

export interface ApiServerOptions {
  address: Address;
  /** GETs in flight per connection before reading pauses. */
  maxInflightPerConnection: number;
  maxConnections: number;
  allowRemoteShutdown: boolean;
}

export class ApiServer {
  private readonly server: Server;
  private readonly connections = new Set<ApiConnection>();

  constructor(
    private readonly deps: { dht: Dht; log: Logger },
    private readonly opts: ApiServerOptions,
  ) {
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      const conn = new ApiConnection(socket, this.deps, this.opts);
      this.connections.add(conn);
      socket.once("close", () => this.connections.delete(conn));
    });
    this.server.maxConnections = opts.maxConnections;
  }

  /** Starts listening; resolves with the bound address (port 0 picks one). */
  listen(): Promise<Address> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.opts.address.port, this.opts.address.host, () => {
        this.server.off("error", reject);
        this.server.on("error", (err) => this.deps.log.error({ err }, "API listener error"));
        const bound = this.server.address();
        const port = typeof bound === "object" && bound !== null ? bound.port : 0;
        resolve({ host: this.opts.address.host, port });
      });
    });
  }

  /** Stops accepting and drops every connection. Idempotent. */
  close(): Promise<void> {
    for (const conn of this.connections) conn.destroy();
    return new Promise((resolve) => {
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    });
  }
}

class ApiConnection {
  private readonly decoder = new FrameDecoder("client");
  private readonly writer: CoalescingWriter;
  private readonly client: string;
  /** The newest PUT per key still under way: GETs of that key wait for it. */
  private readonly pendingPuts = new Map<KeyId, Promise<void>>();
  private inflight = 0;
  private pausedForInflight = false;
  private pausedForDrain = false;
  private ended = false;
  /** Input read but not yet decoded because reading paused mid-chunk. */
  private unread: Buffer | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly deps: { dht: Dht; log: Logger },
    private readonly opts: ApiServerOptions,
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
      this.finishIfDone();
    });
    socket.on("drain", () => {
      this.pausedForDrain = false;
      this.resumeIfClear();
    });
    socket.on("error", (err) => deps.log.debug({ client: this.client, err }, "API socket error"));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    try {
      this.unread = this.decoder.push(chunk, this.onFrame);
    } catch (err) {
      if (!(err instanceof ApiProtocolError)) throw err;
      this.deps.log.warn(
        { client: this.client, reason: err.message },
        "bad API input, closing connection",
      );
      this.socket.destroy();
    }
  }

  /** Handles one frame; false stops the decoder (reading is paused). */
  private readonly onFrame = (frame: Buffer): boolean => {
    if (this.socket.destroyed) return false;
    const msg = decodeApi(frame, "client");
    if (msg.type === "put") this.onPut(msg);
    else if (msg.type === "get") this.onGet(msg);
    else this.onShutdown();
    return !this.pausedForInflight && !this.pausedForDrain;
  };

  private onPut(msg: ApiPut): void {
    const key = Buffer.from(msg.key);
    const id = keyId(key);
    const done = this.deps.dht
      .put({ key, value: Buffer.from(msg.value), ttl: msg.ttl, replication: msg.replication })
      .catch((err: unknown) =>
        this.deps.log.debug({ client: this.client, reason: (err as Error).message }, "PUT failed"),
      );
    this.pendingPuts.set(id, done);
    void done.then(() => {
      if (this.pendingPuts.get(id) === done) this.pendingPuts.delete(id);
    });
  }

  private onGet(msg: ApiGet): void {
    const key = Buffer.from(msg.key);
    const prior = this.pendingPuts.get(keyId(key));
    this.inflight++;
    if (this.inflight >= this.opts.maxInflightPerConnection && !this.pausedForInflight) {
      this.pausedForInflight = true;
      this.socket.pause();
    }
    const lookup =
      prior === undefined ? this.deps.dht.get(key) : prior.then(() => this.deps.dht.get(key));
    lookup.then(
      (value) => this.reply(key, value),
      (err: unknown) => {
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
    if (this.pausedForInflight && this.inflight <= this.opts.maxInflightPerConnection / 2) {
      // Reading resumes once the writer has flushed these replies (onFlushed).
      this.pausedForInflight = false;
    }
    this.finishIfDone();
  }

  private onShutdown(): void {
    if (!this.opts.allowRemoteShutdown && !isLoopback(this.socket.remoteAddress)) {
      this.deps.log.warn(
        { client: this.client, reason: "DHT SHUTDOWN from a non-loopback client" },
        "bad API input, closing connection",
      );
      this.socket.destroy();
      return;
    }
    this.deps.log.info({ client: this.client }, "DHT SHUTDOWN received");
    this.deps.dht.shutdown(`DHT SHUTDOWN from ${this.client}`);
  }

  private pauseForDrain(): void {
    this.pausedForDrain = true;
    this.socket.pause();
  }

  private resumeIfClear(): void {
    if (this.pausedForDrain || this.pausedForInflight || this.socket.destroyed) return;
    const unread = this.unread;
    if (unread !== undefined) {
      this.unread = undefined;
      this.onData(unread);
      if (this.pausedForDrain || this.pausedForInflight) return;
    }
    this.socket.resume();
  }

  /** After the client half-closes, answer what is in flight, then close. */
  private finishIfDone(): void {
    if (!this.ended || this.inflight > 0) return;
    this.writer.flush();
    this.socket.end();
  }
}
