// Ring unification after a partition heals, after Shafaat, Ghodsi and Haridi,
// "Dealing with network partitions in structured overlay networks" (2009).
// Policy:
// - Every peer removed after a failed call is remembered as lost (at most
//   LOST_CAPACITY, forgotten after LOST_TTL_MS). Every `probeMs` the node pings
//   up to PROBES_PER_RUN of them, least recently probed first.
// - A lost peer that answers again may belong to another ring: merge(q). If q
//   lies between us and our successor, q's neighbours are fetched and q becomes
//   our successor; q is notified and told of our old successor. If q lies
//   between our predecessor and us, q becomes our predecessor and is told of
//   us and of our old predecessor. Otherwise the hint travels to the node of
//   our ring that precedes q most closely. Each hint a node acts on makes it
//   hint its old neighbours to the other ring, so the two rings zip together
//   from every place a lost peer was found, in parallel; stabilization and
//   anti-entropy do the rest.
// - A node acts on the same hint at most once per MERGE_DEDUP_MS.

import type { Logger } from "../log.js";
import type { Clock } from "../ports.js";
import { between } from "../ring/interval.js";
import { type Peer, peerAt, type RoutingTable } from "../ring/routing-table.js";
import type { Caller } from "./data-plane.js";
import type { ChordOptions } from "./options.js";

const LOST_CAPACITY = 256;
const LOST_TTL_MS = 10 * 60_000;
const PROBES_PER_RUN = 3;
const MERGE_DEDUP_MS = 1000;

export interface UnifierDeps {
  clock: Clock;
  log: Logger;
  table: RoutingTable;
  call: Caller;
  /** Adopts p as successor if it lies closer and answers (with its successor list). */
  considerSuccessor: (p: Peer) => Promise<void>;
  /** Tells p we may be its predecessor (getting admitted first if it asks). */
  notify: (p: Peer) => Promise<void>;
  /** Adopts p as predecessor if it lies closer (p just answered). */
  rectify: (p: Peer) => void;
  /** A peer that answers again is known once more (location cache). */
  found: (p: Peer) => void;
}

interface Lost {
  peer: Peer;
  since: number;
  probedAt: number;
}

export class Unifier {
  private readonly lost = new Map<string, Lost>();
  private readonly hinted = new Map<string, number>();
  merges = 0;

  constructor(
    private readonly deps: UnifierDeps,
    private readonly opts: ChordOptions,
  ) {}

  get lostCount(): number {
    return this.lost.size;
  }

  noteLost(peer: Peer): void {
    if (peer.id === this.deps.table.self.id || this.lost.has(peer.addr)) return;
    if (this.lost.size >= LOST_CAPACITY) {
      const oldest = this.lost.keys().next().value;
      if (oldest !== undefined) this.lost.delete(oldest);
    }
    const now = this.deps.clock.now();
    this.lost.set(peer.addr, { peer, since: now, probedAt: now });
  }

  /** Pings a few lost peers; those that answer are merged back. */
  async probe(): Promise<void> {
    const now = this.deps.clock.now();
    for (const [addr, l] of this.lost) if (now - l.since > LOST_TTL_MS) this.lost.delete(addr);
    const due = [...this.lost.values()]
      .sort((a, b) => a.probedAt - b.probedAt)
      .slice(0, PROBES_PER_RUN);
    await Promise.all(
      due.map(async (l) => {
        l.probedAt = now;
        const alive = await this.deps
          .call(l.peer, "ping", {}, this.opts.rpcTimeoutMs)
          .then(() => true)
          .catch(() => false);
        if (!alive) return;
        this.lost.delete(l.peer.addr);
        this.deps.found(l.peer);
        this.deps.log.info({ peer: l.peer.addr }, "lost peer answers again; merging");
        await this.merge(l.peer);
      }),
    );
  }

  /** A peer says `addr` may belong near us. */
  onHint(addr: string): void {
    void this.merge(peerAt(addr)).catch(() => undefined);
  }

  async merge(q: Peer): Promise<void> {
    const { table, clock, call } = this.deps;
    const self = table.self;
    const succ = table.successor();
    const pred = table.predecessor;
    if (q.id === self.id || q.id === succ.id || q.id === pred?.id) return;
    const now = clock.now();
    if ((this.hinted.get(q.addr) ?? Number.NEGATIVE_INFINITY) > now - MERGE_DEDUP_MS) return;
    this.hinted.set(q.addr, now);
    if (this.hinted.size > 4 * LOST_CAPACITY) this.hinted.clear();
    this.merges++;
    const hint = (to: Peer, node: Peer | undefined) => {
      if (node === undefined || node.id === to.id) return;
      void call(to, "mergeHint", { node: node.addr }, this.opts.rpcTimeoutMs).catch(() => 0);
    };
    if (table.alone || between(self.id, q.id, succ.id)) {
      await this.deps.considerSuccessor(q);
      if (table.successor().id !== q.id) return;
      await this.deps.notify(q).catch(() => 0);
      hint(q, succ.id === self.id ? undefined : succ);
    } else if (pred === undefined || between(pred.id, q.id, self.id)) {
      this.deps.rectify(q);
      hint(q, self);
      hint(q, pred);
    } else {
      const via = table.closestPreceding(q.id)[0] ?? succ;
      hint(via, q);
    }
  }
}
