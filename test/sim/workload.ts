// The simulated clients: K of them PUT and GET a small key set through random
// live, unpaused nodes and record every operation for the checker. Each PUT
// writes a unique value ("w<n>"). A client gives up after CLIENT_TIMEOUT_MS,
// and loses its request when its entry node crashes or leaves (the connection
// drops): a PUT then counts as failed (indeterminate), a GET as unavailable.

import type { ChordNode } from "../../src/chord/chord-node.js";
import { pick, type Random, randomInt } from "../../src/sim/index.js";
import type { GetOp, Op, PutOp } from "./history.js";
import type { SimRing } from "./sim-ring.js";

export const CLIENT_TIMEOUT_MS = 10_000;

export interface WorkloadOptions {
  clients: number;
  keys: number;
  /** Pause between one client's operations, ms. */
  thinkMs: readonly [number, number];
  /** Share of operations that are PUTs. */
  putShare: number;
}

export const DEFAULT_WORKLOAD: WorkloadOptions = {
  clients: 6,
  keys: 30,
  thinkMs: [50, 400],
  putShare: 0.5,
};

type Attempt<T> = { ok: true; value: T } | { ok: false; why: string };

/** The 32-byte key for a key name ("k07" -> "k07" padded with dots). */
export const keyBytesOf = (name: string): Buffer => Buffer.from(name.padEnd(32, "."));

export class Workload {
  readonly ops: Op[] = [];
  readonly keys: string[];
  private nextOp = 0;
  private nextValue = 0;
  /** Abort functions of the requests in flight, by entry node address. */
  private readonly inflight = new Map<string, Set<(why: string) => void>>();

  constructor(
    private readonly ring: SimRing,
    private readonly random: Random,
    private readonly epoch: number,
    private readonly opts: WorkloadOptions = DEFAULT_WORKLOAD,
  ) {
    this.keys = Array.from({ length: opts.keys }, (_, i) => `k${String(i).padStart(2, "0")}`);
  }

  /** Runs every client until simulated time `until` (ms since the epoch); resolves when all stopped. */
  async run(until: number): Promise<void> {
    await Promise.all(Array.from({ length: this.opts.clients }, (_, c) => this.client(c, until)));
  }

  /** The connections to `addr` dropped: every request in flight there fails now. */
  abortAt(addr: string, why: string): void {
    for (const abort of [...(this.inflight.get(addr) ?? [])]) abort(why);
  }

  private now(): number {
    return this.ring.clock.now() - this.epoch;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.ring.clock.setTimeout(resolve, ms));
  }

  private async client(c: number, until: number): Promise<void> {
    for (;;) {
      await this.sleep(randomInt(this.random, this.opts.thinkMs[0], this.opts.thinkMs[1]));
      if (this.now() >= until) return;
      const entries = this.ring.live.filter((n) => !this.ring.net.isPaused(n.self.addr));
      if (entries.length === 0) continue;
      const node = pick(this.random, entries);
      const key = pick(this.random, this.keys);
      const op =
        this.random() < this.opts.putShare
          ? await this.put(c, node, key)
          : await this.read(c, node, key);
      this.ops.push(op);
    }
  }

  private async put(client: number, node: ChordNode, key: string): Promise<PutOp> {
    const value = `w${this.nextValue++}`;
    const id = this.nextOp++;
    const invoke = this.now();
    const req = { key: keyBytesOf(key), value: Buffer.from(value), ttl: 0, replication: 0 };
    const res = await this.attempt(node, () => node.put(req));
    const base = { kind: "put", id, client, node: node.self.addr, key, value, invoke } as const;
    return { ...base, complete: this.now(), ok: res.ok };
  }

  /** One GET through `node`, not added to ops (the reads after quiescence use it too). */
  async read(client: number, node: ChordNode, key: string): Promise<GetOp> {
    const id = this.nextOp++;
    const invoke = this.now();
    const res = await this.attempt(node, () => node.get(keyBytesOf(key)));
    const base = { kind: "get", id, client, node: node.self.addr, key, invoke } as const;
    const complete = this.now();
    if (!res.ok) return { ...base, complete, outcome: "unavailable", value: null };
    if (res.value === undefined) return { ...base, complete, outcome: "absent", value: null };
    return { ...base, complete, outcome: "found", value: res.value.toString() };
  }

  /** Runs one request at `node` until it settles, the client gives up, or the node goes away. */
  private attempt<T>(node: ChordNode, run: () => Promise<T>): Promise<Attempt<T>> {
    const addr = node.self.addr;
    const aborts = this.inflight.get(addr) ?? new Set<(why: string) => void>();
    this.inflight.set(addr, aborts);
    return new Promise((resolve) => {
      let done = false;
      const finish = (result: Attempt<T>) => {
        if (done) return;
        done = true;
        timer.cancel();
        aborts.delete(abort);
        resolve(result);
      };
      const abort = (why: string) => finish({ ok: false, why });
      const timer = this.ring.clock.setTimeout(() => abort("client timeout"), CLIENT_TIMEOUT_MS);
      aborts.add(abort);
      run().then(
        (value) => finish({ ok: true, value }),
        (err: unknown) => abort(err instanceof Error ? err.message : String(err)),
      );
    });
  }
}
