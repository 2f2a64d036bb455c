// A client of the DHT API over one TCP connection, as other modules use it:
// pipelined requests, replies matched to requests by key. Used by the CLI, the
// tests and the benchmarks.

import { connect, type Socket } from "node:net";
import { decodeApi, encodeApi } from "../wire/api.js";
import { FrameDecoder } from "../wire/frame-decoder.js";
import { type KeyId, keyId } from "../wire/key.js";

type Waiter = { resolve: (v: Buffer | undefined) => void; reject: (e: Error) => void };

export class ApiClient {
  private readonly decoder = new FrameDecoder("node");
  private readonly waiting = new Map<KeyId, Waiter[]>();
  private failure: Error | undefined;
  private corked = false;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      try {
        this.decoder.push(chunk, (frame) => {
          this.onFrame(frame);
          return true;
        });
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.on("error", (err) => this.failAll(err));
    socket.on("close", () => this.failAll(new Error("connection closed by the node")));
  }

  static connect(host: string, port: number): Promise<ApiClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new ApiClient(socket));
      });
    });
  }

  put(key: Buffer, value: Buffer, ttl = 0, replication = 0): void {
    this.send(encodeApi({ type: "put", key, value, ttl, replication }));
  }

  /** Resolves with the value, or undefined on DHT FAILURE. */
  get(key: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve, reject) => {
      if (this.failure !== undefined) return reject(this.failure);
      const id = keyId(key);
      const list = this.waiting.get(id);
      if (list === undefined) this.waiting.set(id, [{ resolve, reject }]);
      else list.push({ resolve, reject });
      this.send(encodeApi({ type: "get", key }));
    });
  }

  /** Sends DHT SHUTDOWN and waits until the node closes the connection. */
  shutdown(): Promise<void> {
    return new Promise((resolve) => {
      this.socket.once("close", () => resolve());
      this.socket.write(encodeApi({ type: "shutdown" }));
    });
  }

  /** Requests written in one turn leave in one segment (cork until the next tick). */
  private send(frame: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
  }

  /** Writes raw bytes (tests of malformed input). */
  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }

  private onFrame(frame: Buffer): void {
    const msg = decodeApi(frame, "node");
    if (msg.type !== "success" && msg.type !== "failure") return;
    const id = keyId(msg.key);
    const list = this.waiting.get(id);
    const waiter = list?.shift();
    if (list !== undefined && list.length === 0) this.waiting.delete(id);
    waiter?.resolve(msg.type === "success" ? Buffer.from(msg.value) : undefined);
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    for (const list of this.waiting.values()) for (const w of list) w.reject(err);
    this.waiting.clear();
  }
}
