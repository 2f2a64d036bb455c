// The nemesis: a seeded random fault schedule over the in-memory network.
// Every 1-4 s it picks one of: crash (kill -9, maybe restarted empty at the
// same address 2-10 s later), pause (SIGSTOP for 1-6 s), partition (random
// split into two groups, healed after 1-10 s), a message-loss spike, wide
// latency (reordering) around a few nodes, concurrent joins, a graceful
// leave. Bounds: at most MAX_DOWN nodes crashed (within DOWN_WINDOW_MS) or
// paused at once, crashes CRASH_SPACING_MS apart, live nodes within
// [minLive, maxLive]. quiesce() undoes every fault that is still on.

import type { ChordNode } from "../../src/chord/chord-node.js";
import { pick, type Random, randomInt, shuffle } from "../../src/sim/index.js";
import type { Window } from "./history.js";
import type { SimRing } from "./sim-ring.js";
import type { Workload } from "./workload.js";

export const MAX_DOWN = 2;
export const DOWN_WINDOW_MS = 10_000;
export const CRASH_SPACING_MS = 4_000;

export const FAULTS = ["crash", "pause", "partition", "loss", "latency", "join", "leave"] as const;
export type Fault = (typeof FAULTS)[number];
/** How often each fault is picked, relatively. */
const WEIGHTS: Record<Fault, number> = {
  crash: 3,
  pause: 3,
  partition: 2,
  loss: 1,
  latency: 1,
  join: 1,
  leave: 1,
};

export interface NemesisOptions {
  minLive: number;
  maxLive: number;
  /** The faults it may inject (all of FAULTS by default). */
  faults: readonly Fault[];
}

export class Nemesis {
  readonly log: string[] = [];
  readonly partitions: Window[] = [];
  /** Crash times (ms since the epoch), newest last. */
  private readonly crashes: number[] = [];
  private readonly paused = new Set<string>();
  private partitionStart: number | undefined;
  private lossOn = false;
  private readonly slowLinks: [string, string][] = [];
  /** Pending undo actions, run early by quiesce(). */
  private readonly undo = new Map<number, () => void>();
  private nextUndo = 0;

  constructor(
    private readonly ring: SimRing,
    private readonly random: Random,
    private readonly workload: Workload,
    private readonly epoch: number,
    private readonly opts: NemesisOptions,
  ) {}

  /** Injects faults from `from` until `until` (ms since the epoch). */
  async run(from: number, until: number): Promise<void> {
    await this.sleep(from - this.now());
    while (this.now() < until) {
      this.act(this.choose());
      await this.sleep(randomInt(this.random, 1_000, 4_000));
    }
  }

  /** Heals, resumes, stops loss and latency, restarts what was due to restart. */
  quiesce(): void {
    while (this.undo.size > 0) this.undo.get(Math.min(...this.undo.keys()))!();
  }

  private now(): number {
    return this.ring.clock.now() - this.epoch;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.ring.clock.setTimeout(resolve, Math.max(ms, 1)));
  }

  private note(event: string): void {
    this.log.push(`@${this.now()} ${event}`);
  }

  /** Runs `fn` after `ms`, or at quiesce() if that comes first. */
  private later(ms: number, fn: () => void): void {
    const id = this.nextUndo++;
    const run = () => {
      if (!this.undo.delete(id)) return;
      timer.cancel();
      fn();
    };
    const timer = this.ring.clock.setTimeout(run, ms);
    this.undo.set(id, run);
  }

  private choose(): Fault | undefined {
    const total = this.opts.faults.reduce((sum, f) => sum + WEIGHTS[f], 0);
    let roll = this.random() * total;
    for (const fault of this.opts.faults) {
      roll -= WEIGHTS[fault];
      if (roll < 0) return fault;
    }
    return this.opts.faults.at(-1);
  }

  private down(): number {
    const recent = this.crashes.filter((t) => this.now() - t < DOWN_WINDOW_MS).length;
    return recent + this.paused.size;
  }

  /** Running, unpaused nodes: the ones a fault may hit. */
  private targets(): ChordNode[] {
    return this.ring.live.filter((n) => !this.paused.has(n.self.addr));
  }

  private act(action: Fault | undefined): void {
    const live = this.ring.live.length;
    const targets = this.targets();
    if (targets.length === 0) return;
    const lastCrash = this.crashes.at(-1) ?? Number.NEGATIVE_INFINITY;
    if (action === "crash" && this.down() < MAX_DOWN && live > this.opts.minLive) {
      if (this.now() - lastCrash >= CRASH_SPACING_MS) this.crash(pick(this.random, targets));
    } else if (action === "pause" && this.down() < MAX_DOWN) {
      this.pause(pick(this.random, targets));
    } else if (action === "partition" && this.partitionStart === undefined) {
      this.partition();
    } else if (action === "loss" && !this.lossOn) {
      const rate = Math.round((0.05 + this.random() * 0.25) * 100) / 100;
      this.lossOn = true;
      this.ring.net.setDrop(rate);
      this.note(`loss ${rate}`);
      this.later(randomInt(this.random, 1_000, 5_000), () => {
        this.lossOn = false;
        this.ring.net.setDrop(0);
        this.note("loss 0");
      });
    } else if (action === "latency" && this.slowLinks.length === 0) {
      this.slow(shuffle(this.random, [...targets]).slice(0, randomInt(this.random, 1, 3)));
    } else if (action === "join" && this.partitionStart === undefined) {
      const count = Math.min(randomInt(this.random, 2, 4), this.opts.maxLive - live);
      for (let i = 0; i < count; i++) this.join(pick(this.random, targets));
    } else if (action === "leave" && live > this.opts.minLive) {
      const node = pick(this.random, targets);
      this.note(`leave ${node.self.addr}`);
      this.workload.abortAt(node.self.addr, "entry node left");
      node.leave().catch(() => undefined);
    }
  }

  private crash(node: ChordNode): void {
    const addr = node.self.addr;
    this.crashes.push(this.now());
    this.note(`crash ${addr}`);
    this.ring.net.kill(addr);
    void node.stop();
    this.workload.abortAt(addr, "entry node crashed");
    if (this.random() < 0.5)
      this.later(randomInt(this.random, 2_000, 10_000), () => this.restart(addr));
  }

  private restart(addr: string): void {
    if (this.partitionStart !== undefined) {
      this.later(1_000, () => this.restart(addr)); // a newcomer would bridge the cut
      return;
    }
    const targets = this.targets();
    if (targets.length === 0) return;
    const via = pick(this.random, targets);
    this.note(`restart ${addr} via ${via.self.addr}`);
    this.ring.spawnAt(addr, via);
  }

  private join(via: ChordNode): void {
    const { node } = this.ring.spawn(via);
    this.note(`join ${node.self.addr} via ${via.self.addr}`);
  }

  private pause(node: ChordNode): void {
    const addr = node.self.addr;
    this.paused.add(addr);
    this.ring.net.pause(addr);
    const ms = randomInt(this.random, 1_000, 6_000);
    this.note(`pause ${addr} for ${ms} ms`);
    this.later(ms, () => {
      this.paused.delete(addr);
      this.note(`resume ${addr}`);
      this.ring.net.resume(addr);
    });
  }

  private partition(): void {
    const serving = this.ring.nodes
      .map((n) => n.self.addr)
      .filter((a) => this.ring.net.isServing(a));
    const all = shuffle(this.random, [...new Set(serving)]);
    const cut = randomInt(this.random, 1, Math.max(1, Math.floor(all.length / 2)));
    const [a, b] = [all.slice(0, cut), all.slice(cut)];
    const start = this.now();
    this.partitionStart = start;
    this.ring.net.partition(a, b);
    this.note(`partition [${a.join(" ")}] | ${b.length} others`);
    this.later(randomInt(this.random, 1_000, 10_000), () => {
      this.ring.net.heal();
      this.partitionStart = undefined;
      this.partitions.push({ start, end: this.now() });
      this.note("heal");
    });
  }

  private slow(nodes: ChordNode[]): void {
    const others = this.ring.live.map((n) => n.self.addr);
    const max = randomInt(this.random, 100, 1_000);
    for (const n of nodes)
      for (const o of others) {
        if (o === n.self.addr) continue;
        this.ring.net.setLinkLatency(n.self.addr, o, [1, max]);
        this.ring.net.setLinkLatency(o, n.self.addr, [1, max]);
        this.slowLinks.push([n.self.addr, o], [o, n.self.addr]);
      }
    this.note(`latency [1, ${max}] around ${nodes.map((n) => n.self.addr).join(" ")}`);
    this.later(randomInt(this.random, 2_000, 8_000), () => {
      for (const [from, to] of this.slowLinks.splice(0))
        this.ring.net.setLinkLatency(from, to, undefined);
      this.note("latency normal");
    });
  }
}
