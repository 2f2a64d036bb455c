// A Chord ring in one process: ChordNodes over the in-memory SimNetwork with a
// manual clock and seeded randomness, so a run is deterministic and fast.

import { ChordNode } from "../../src/chord/chord-node.js";
import { CHORD_DEFAULTS, type ChordOptions } from "../../src/chord/options.js";
import { silentLogger } from "../../src/log.js";
import type { PeerGuard, PeerTransport } from "../../src/ports.js";
import { keyPosition } from "../../src/ring/id.js";
import { betweenRightIncl } from "../../src/ring/interval.js";
import {
  forkRandom,
  ManualClock,
  type Random,
  SimNetwork,
  seededBytes,
  seededRandom,
} from "../../src/sim/index.js";

export const SIM_OPTIONS: ChordOptions = {
  ...CHORD_DEFAULTS,
  defaultStoreSeconds: 3600,
  maxStoreSeconds: 86_400,
  replication: 3,
  storeQuotaBytes: 64 * 1024 * 1024,
  // Admission runs its whole protocol, with puzzles cheap enough for thousands of joins.
  powBits: 4,
};

export class SimRing {
  readonly clock = new ManualClock();
  readonly random: Random;
  readonly net: SimNetwork;
  readonly nodes: ChordNode[] = [];
  private readonly log = silentLogger();
  private count = 0;
  /** Misbehaviour reports of the nodes spawned from now on go here (none: not reported). */
  guard: PeerGuard | undefined;

  constructor(
    seed: number,
    readonly opts: ChordOptions = SIM_OPTIONS,
  ) {
    this.random = seededRandom(seed);
    this.net = new SimNetwork({ clock: this.clock, random: this.random });
  }

  get live(): ChordNode[] {
    return this.nodes.filter((n) => n.running);
  }

  /** Creates a node and starts it: alone, or joining through `via`. Does not advance time. */
  spawn(via?: ChordNode): { node: ChordNode; started: Promise<void> } {
    return this.spawnAt(`n${this.count++}:7000`, via);
  }

  /** Like spawn(), at a given address (e.g. one whose node died). */
  spawnAt(addr: string, via?: ChordNode): { node: ChordNode; started: Promise<void> } {
    const node = this.create(addr);
    return { node, started: node.start(via === undefined ? [] : [via.self.addr]) };
  }

  /**
   * A node at `addr`, not started. `wrap` may stand between it and the network (a
   * liar's transport); `unguarded`: its misbehaviour reports go nowhere.
   */
  create(
    addr: string,
    o: { wrap?: (t: PeerTransport) => PeerTransport; unguarded?: boolean } = {},
  ): ChordNode {
    // Each node runs on its own pausable view of the clock (SimNetwork.pause).
    const { transport, clock } = this.net.endpoint(addr);
    const guard = o.unguarded === true ? undefined : this.guard;
    const node = new ChordNode(
      {
        transport: o.wrap?.(transport) ?? transport,
        clock,
        random: forkRandom(this.random),
        randomBytes: seededBytes(forkRandom(this.random)),
        log: this.log,
        ...(guard === undefined ? {} : { guard }),
      },
      this.opts,
    );
    this.nodes.push(node);
    return node;
  }

  /** Grows the ring to `n` nodes in doubling waves, each joining through random live members. */
  async grow(n: number, settleMs = 2000, joinBudgetMs = 60_000): Promise<void> {
    if (this.nodes.length === 0) await this.spawn().started;
    while (this.nodes.length < n) {
      const members = this.live;
      const wave = Math.min(members.length, n - this.nodes.length);
      const joins = Array.from({ length: wave }, () => {
        const via = members[Math.floor(this.random() * members.length)]!;
        return this.spawn(via).started;
      });
      const all = Promise.all(joins);
      let done = false;
      void all.then(() => {
        done = true;
      });
      await this.clock.runUntil(() => done, joinBudgetMs);
      if (!done) throw new Error("joins did not finish");
      await this.clock.advance(settleMs);
    }
  }

  /** Every live node's successor and predecessor are right. */
  consistent(): boolean {
    const sorted = [...this.live].sort((a, b) => (a.self.id < b.self.id ? -1 : 1));
    return sorted.every((node, i) => {
      const next = sorted[(i + 1) % sorted.length]!;
      const prev = sorted[(i - 1 + sorted.length) % sorted.length]!;
      const single = sorted.length === 1;
      return (
        node.table.successor().id === (single ? node.self.id : next.self.id) &&
        (single || node.table.predecessor?.id === prev.self.id)
      );
    });
  }

  /** Advances in steps until the ring is consistent; returns the simulated ms it took, or -1. */
  async converge(maxMs: number, stepMs = 250): Promise<number> {
    const start = this.clock.now();
    while (this.clock.now() - start <= maxMs) {
      if (this.consistent()) return this.clock.now() - start;
      await this.clock.advance(stepMs);
    }
    return -1;
  }

  /** The live node responsible for a key, by the definition (successor of its position). */
  ownerOf(key: Buffer): ChordNode {
    return this.holdersOf(key, 1)[0]!;
  }

  /** The key's owner and the live nodes after it in ring order: `count` of them at most. */
  holdersOf(key: Buffer, count: number): ChordNode[] {
    const pos = keyPosition(key);
    const sorted = [...this.live].sort((a, b) => (a.self.id < b.self.id ? -1 : 1));
    const at = Math.max(
      0,
      sorted.findIndex((n, i) =>
        betweenRightIncl(sorted[(i - 1 + sorted.length) % sorted.length]!.self.id, pos, n.self.id),
      ),
    );
    const n = Math.min(count, sorted.length);
    return Array.from({ length: n }, (_, i) => sorted[(at + i) % sorted.length]!);
  }

  /** Runs a promise to completion while advancing simulated time. */
  async settle<T>(p: Promise<T>, maxMs = 30_000): Promise<T> {
    let result: { ok: true; value: T } | { ok: false; err: unknown } | undefined;
    p.then(
      (value) => {
        result = { ok: true, value };
      },
      (err: unknown) => {
        result = { ok: false, err };
      },
    );
    await this.clock.runUntil(() => result !== undefined, maxMs);
    if (result === undefined) throw new Error("timed out in simulated time");
    if (!result.ok) throw result.err;
    return result.value;
  }
}
