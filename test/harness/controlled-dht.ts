// The API server in process over real TCP, in front of a DHT the test drives:
// every PUT and GET waits until the test resolves it, so in-flight states
// (slow lookups, pending writes, replies out of order) are deterministic.

import { Writable } from "node:stream";
import { pino } from "pino";
import type { Logger } from "../../src/log.js";
import type { Address } from "../../src/net/address.js";
import { ApiServer, type ApiTuning } from "../../src/net/api-server.js";
import type { Dht, PutRequest } from "../../src/ports.js";
import { onCleanup } from "./cleanup.js";
import type { LogLine } from "./process.js";

export interface PendingPut {
  req: PutRequest;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface PendingGet {
  key: Buffer;
  resolve: (value: Buffer | undefined) => void;
  reject: (err: Error) => void;
}

type Waiter = { count: number; resolve: () => void };

export class ControlledDht implements Dht {
  readonly puts: PendingPut[] = [];
  readonly gets: PendingGet[] = [];
  readonly shutdowns: string[] = [];
  /** Keys answered at once with this value instead of waiting for the test. */
  readonly instant = new Map<string, Buffer>();
  private getWaiters: Waiter[] = [];

  put(req: PutRequest): Promise<void> {
    return new Promise((resolve, reject) => this.puts.push({ req, resolve, reject }));
  }

  get(key: Buffer): Promise<Buffer | undefined> {
    const now = this.instant.get(key.toString("latin1"));
    if (now !== undefined) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      this.gets.push({ key: Buffer.from(key), resolve, reject });
      const ready = this.getWaiters.filter((w) => this.gets.length >= w.count);
      this.getWaiters = this.getWaiters.filter((w) => this.gets.length < w.count);
      for (const w of ready) w.resolve();
    });
  }

  shutdown(reason: string): void {
    this.shutdowns.push(reason);
  }

  /** Resolves once `count` GETs in total (not answered instantly) have reached the DHT. */
  waitForGets(count: number): Promise<void> {
    if (this.gets.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.getWaiters.push({ count, resolve }));
  }
}

/** A logger keeping its JSON lines in memory. */
export function memoryLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString("utf8").split("\n")) {
        if (text.trim() !== "") lines.push(JSON.parse(text) as LogLine);
      }
      done();
    },
  });
  return { log: pino({ level: "debug", base: undefined }, sink), lines };
}

export interface ServerUnderTest {
  dht: ControlledDht;
  server: ApiServer;
  address: Address;
  lines: LogLine[];
}

export async function startControlledServer(
  opts: {
    maxInflight?: number;
    allowRemoteShutdown?: boolean;
    host?: string;
    maxConnections?: number;
  } & ApiTuning = {},
): Promise<ServerUnderTest> {
  const dht = new ControlledDht();
  const { log, lines } = memoryLogger();
  const server = new ApiServer(
    { dht, log },
    {
      address: { host: opts.host ?? "127.0.0.1", port: 0 },
      maxInflightPerConnection: opts.maxInflight ?? 1024,
      maxConnections: opts.maxConnections ?? 1024,
      allowRemoteShutdown: opts.allowRemoteShutdown ?? false,
      partialMessageTimeoutMs: opts.partialMessageTimeoutMs,
      inUseWindowMs: opts.inUseWindowMs,
    },
  );
  const address = await server.listen();
  onCleanup(() => server.close());
  return { dht, server, address, lines };
}
