// The API server: one TCP listener for the node's clients (each connection is
// an ApiConnection). At most `maxConnections` connections are kept: when full,
// a newcomer is accepted and the connection idle longest gives way, unless
// every connection is in use, in which case the newcomer is refused. Either
// way one log line. So idle connections cannot shut new clients out, and a
// client that is using its connection never loses it to a newcomer.

import { createServer, type Server, type Socket } from "node:net";
import type { Logger } from "../log.js";
import type { Dht, NodeObserver } from "../ports.js";
import { type Address, formatAddress } from "./address.js";
import { ApiConnection, monotonicMs } from "./api-connection.js";

/**
 * A connection is in use, and never gives way to a newcomer, while it has a
 * GET in flight or a PUT under way, or within this long of its last request
 * arriving or being answered (ms). One that never sent a whole request is
 * not in use.
 */
export const API_IN_USE_WINDOW_MS = 10_000;

/** A message whose first bytes arrived must be whole within this (ms), or the connection closes. */
export const API_PARTIAL_MESSAGE_TIMEOUT_MS = 10_000;

export interface ApiServerOptions {
  address: Address;
  /** GETs in flight per connection before reading pauses. */
  maxInflightPerConnection: number;
  /** Connections kept at once (`max_api_connections`); see the file comment. */
  maxConnections: number;
  allowRemoteShutdown: boolean;
  /** Default API_PARTIAL_MESSAGE_TIMEOUT_MS. */
  partialMessageTimeoutMs?: number;
  /** Default API_IN_USE_WINDOW_MS. */
  inUseWindowMs?: number;
}

/** The API tunables that are not configuration keys (tests and benchmarks shorten them). */
export type ApiTuning = Pick<ApiServerOptions, "partialMessageTimeoutMs" | "inUseWindowMs">;

export class ApiServer {
  private readonly server: Server;
  /** Connections that have not sent a whole request yet, oldest first. */
  private readonly fresh = new Set<ApiConnection>();
  /** Connections that have, least recently active first (re-inserted on activity). */
  private readonly used = new Set<ApiConnection>();
  private readonly inUseWindowMs: number;

  constructor(
    private readonly deps: { dht: Dht; log: Logger; observer?: NodeObserver },
    private readonly opts: ApiServerOptions,
  ) {
    this.inUseWindowMs = opts.inUseWindowMs ?? API_IN_USE_WINDOW_MS;
    // No server.maxConnections: the cap is applied in admit(), which can evict.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
      this.admit(socket),
    );
  }

  /** Connections currently kept. */
  get connectionCount(): number {
    return this.fresh.size + this.used.size;
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
    for (const conn of [...this.fresh, ...this.used]) conn.destroy();
    this.fresh.clear();
    this.used.clear();
    return new Promise((resolve) => {
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    });
  }

  private admit(socket: Socket): void {
    if (this.connectionCount >= this.opts.maxConnections && !this.makeRoom(socket)) {
      socket.destroy();
      return;
    }
    const conn = new ApiConnection(
      socket,
      this.deps,
      {
        maxInflight: this.opts.maxInflightPerConnection,
        allowRemoteShutdown: this.opts.allowRemoteShutdown,
        partialMessageTimeoutMs:
          this.opts.partialMessageTimeoutMs ?? API_PARTIAL_MESSAGE_TIMEOUT_MS,
      },
      this.onActive,
    );
    this.fresh.add(conn);
    socket.once("close", () => {
      this.fresh.delete(conn);
      this.used.delete(conn);
    });
  }

  /** A request arrived or was answered: the connection moves to the most recently active end. */
  private readonly onActive = (conn: ApiConnection): void => {
    if (this.fresh.delete(conn) || this.used.delete(conn)) this.used.add(conn);
  };

  /** Closes the connection idle longest that is not in use; false if every one is. */
  private makeRoom(newcomer: Socket): boolean {
    const now = monotonicMs();
    const victim = older(this.fresh.values().next().value, this.idlestUsed(now));
    const newClient = formatAddress({
      host: newcomer.remoteAddress ?? "?",
      port: newcomer.remotePort ?? 0,
    });
    if (victim === undefined) {
      this.deps.log.warn(
        { client: newClient, maxConnections: this.opts.maxConnections },
        "API connections full and every one in use, refusing a new connection",
      );
      return false;
    }
    this.fresh.delete(victim);
    this.used.delete(victim);
    this.deps.log.info(
      {
        client: victim.client,
        idleMs: Math.round(now - victim.lastActive),
        newcomer: newClient,
        maxConnections: this.opts.maxConnections,
      },
      "API connections full, closing the one idle longest",
    );
    victim.destroy();
    return true;
  }

  /** The least recently active connection that has sent requests but is not in use now. */
  private idlestUsed(now: number): ApiConnection | undefined {
    // Least recently active first: once one is within the window, so are the rest.
    for (const conn of this.used) {
      if (now - conn.lastActive < this.inUseWindowMs) return undefined;
      if (!conn.busy) return conn;
    }
    return undefined;
  }
}

function older(a: ApiConnection | undefined, b: ApiConnection | undefined) {
  if (a === undefined || b === undefined) return a ?? b;
  return a.lastActive <= b.lastActive ? a : b;
}
