// The admin HTTP endpoint (docs/admin.md): node:http, read-only, GET only.
//   /          the live ring page (admin/page.ts)
//   /status    one node's status (JSON)
//   /ring      every node this endpoint describes (JSON): a node's own, a testnet's all
//   /events    the same as server-sent events, pushed when it changes
//   /metrics   Prometheus exposition
//   /healthz   200 while the process is alive and its event loop turns
//   /readyz    200 once joined and serving, 503 with a one-line reason otherwise
// Unknown paths 404, other methods 405; a handler that throws answers 500 and
// the server keeps going. Bounded: MAX_CONNECTIONS connections, MAX_SUBSCRIBERS
// event streams, a stream that leaves MAX_UNREAD_BYTES unread is dropped, and
// headers must arrive within REQUEST_DEADLINE_MS. What is served comes from callbacks: this file knows
// HTTP, not Chord. listen() rejects with Node's own error (EADDRINUSE: code set).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "../log.js";
import type { Address } from "./address.js";

export interface AdminHandlers {
  /** The HTML of the ring page. */
  page: string;
  /** One node's status; `node` selects one of several (a testnet's); undefined: no such node. */
  status(node: string | null): unknown;
  /** Every node this endpoint describes. */
  ring(): unknown;
  metrics(): Promise<{ contentType: string; body: string }>;
  ready(): { ready: boolean; reason?: string };
}

export interface AdminServerOptions {
  address: Address;
  /** How often /events subscribers get the ring when it changed (ms). */
  eventsIntervalMs?: number;
}

/** A comment line to every /events subscriber this often, so proxies keep the stream. */
const HEARTBEAT_MS = 15_000;
/** Open connections at most (scrapes, pages, event streams); more are refused at once. */
const MAX_CONNECTIONS = 64;
/** Event streams at most; more get 503. */
const MAX_SUBSCRIBERS = 16;
/** A subscriber that leaves this much unread is dropped (it reloads and catches up). */
const MAX_UNREAD_BYTES = 8 * 1024 * 1024;
/** A request's headers must arrive within this (slow clients hold no connection long). */
const REQUEST_DEADLINE_MS = 10_000;

export class AdminServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly subscribers = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private lastSent = "";
  private lastBeat = 0;
  private bound: Address | undefined;

  constructor(
    private readonly deps: { log: Logger; handlers: AdminHandlers },
    private readonly opts: AdminServerOptions,
  ) {
    this.server = createServer(
      { headersTimeout: REQUEST_DEADLINE_MS, requestTimeout: REQUEST_DEADLINE_MS },
      (req, res) => this.route(req, res),
    );
    this.server.maxConnections = MAX_CONNECTIONS;
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    this.server.on("clientError", (_err, socket) => socket.destroy());
  }

  /** The bound address (port 0 resolved). */
  get address(): Address {
    if (this.bound === undefined) throw new Error("admin endpoint not listening");
    return this.bound;
  }

  /** Binds; rejects with Node's error (code EADDRINUSE, EACCES...) when it cannot. */
  listen(): Promise<Address> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.opts.address.port, this.opts.address.host, () => {
        this.server.off("error", reject);
        this.server.on("error", (err) => this.deps.log.error({ err }, "admin listener error"));
        const a = this.server.address();
        const port = typeof a === "object" && a !== null ? a.port : 0;
        this.bound = { host: this.opts.address.host, port };
        resolve(this.bound);
      });
    });
  }

  /** Stops listening and drops every connection (event streams included). Idempotent. */
  close(): Promise<void> {
    this.stopEvents();
    for (const res of this.subscribers) res.destroy();
    this.subscribers.clear();
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => {
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    });
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://admin");
    } catch {
      send(res, 400, "text/plain", "bad request URL\n");
      return;
    }
    const path = url.pathname;
    const known = ["/", "/status", "/ring", "/events", "/metrics", "/healthz", "/readyz"];
    if (!known.includes(path)) {
      send(res, 404, "text/plain", `no such path: ${path.slice(0, 100)}\n`);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      send(res, 405, "text/plain", `method ${req.method ?? "?"} not allowed; use GET\n`);
      return;
    }
    this.serve(path, url, res).catch((err: unknown) => {
      this.deps.log.warn({ path, reason: (err as Error).message }, "admin request failed");
      if (!res.headersSent) send(res, 500, "text/plain", "internal error\n");
      else res.destroy();
    });
  }

  private async serve(path: string, url: URL, res: ServerResponse): Promise<void> {
    const h = this.deps.handlers;
    switch (path) {
      case "/":
        send(res, 200, "text/html; charset=utf-8", h.page);
        return;
      case "/status": {
        const node = url.searchParams.get("node");
        const status = h.status(node);
        if (status === undefined) send(res, 404, "text/plain", "no such node\n");
        else sendJson(res, 200, status);
        return;
      }
      case "/ring":
        sendJson(res, 200, h.ring());
        return;
      case "/events":
        if (this.subscribers.size >= MAX_SUBSCRIBERS) {
          send(res, 503, "text/plain", "too many event streams\n");
          return;
        }
        this.subscribe(res);
        return;
      case "/metrics": {
        const m = await h.metrics();
        send(res, 200, m.contentType, m.body);
        return;
      }
      case "/healthz":
        // Answering at all proves the event loop turns.
        send(res, 200, "text/plain", "ok\n");
        return;
      case "/readyz": {
        const r = h.ready();
        send(res, r.ready ? 200 : 503, "text/plain", r.ready ? "ready\n" : `${r.reason}\n`);
        return;
      }
    }
  }

  private subscribe(res: ServerResponse): void {
    res.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
    });
    this.subscribers.add(res);
    res.once("close", () => {
      this.subscribers.delete(res);
      if (this.subscribers.size === 0) this.stopEvents();
    });
    // The newcomer gets the ring at once; later ones only when it changes.
    const data = JSON.stringify(this.deps.handlers.ring());
    res.write(`event: ring\ndata: ${data}\n\n`);
    if (this.timer === undefined) {
      this.lastSent = data;
      this.lastBeat = Date.now();
      this.timer = setInterval(() => this.tick(), this.opts.eventsIntervalMs ?? 1000);
      this.timer.unref();
    }
  }

  private tick(): void {
    let data: string;
    try {
      data = JSON.stringify(this.deps.handlers.ring());
    } catch (err) {
      this.deps.log.warn({ reason: (err as Error).message }, "admin events failed");
      return;
    }
    const now = Date.now();
    let chunk = "";
    if (data !== this.lastSent) chunk = `event: ring\ndata: ${data}\n\n`;
    else if (now - this.lastBeat >= HEARTBEAT_MS) chunk = ": still here\n\n";
    if (chunk === "") return;
    this.lastSent = data;
    this.lastBeat = now;
    for (const res of this.subscribers) {
      if (res.writableLength > MAX_UNREAD_BYTES) res.destroy();
      else res.write(chunk);
    }
  }

  private stopEvents(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, code: number, value: unknown): void {
  send(res, code, "application/json", `${JSON.stringify(value)}\n`);
}
