// Stranded records: a node hands records it does not serve to their owner.
// Policy (1 s after the ring around this node changed, again while scans move
// records, and every `strandedScanMs`): a record is served here when this node
// owns it, or an owner confirmed by anti-entropy within
// `CONFIRM_WINDOW_ROUNDS` rounds at the calmest cadence (an owner syncs each
// replica once per `replication` anti-entropy periods, on average) that this node replicates
// its range, did so after the ring around this node last changed, and no node
// this node knows of lies between the record and that owner. Any other record
// is checked with GetNode: one lookup covers every record up to the owner
// found. The record is stranded only when three things agree:
// - this node is not among its first `replication` holders by the lookup;
// - those holders all lie between the record and this node (a lookup through
//   a ring in flux can name a wrong owner, even one past this node);
// - each of those holders answers a ping (a crashed node still in the owner's
//   list would push this node out of them while it is in fact a holder).
// A stranded record is pushed to those holders (newest wins there) and
// dropped here only once every one of them took it. Records whose range is
// too far from this node for its holders to take them from here
// (chord/record-rules.ts), and any a holder refused, go to the owner as
// InsertValue instead, one by one, and each is dropped once the owner reports
// it stored (the owner copies it to its replica set).

import type { Logger } from "../log.js";
import type { Clock } from "../ports.js";
import type { RingDirectory } from "../ring/directory.js";
import type { Id } from "../ring/id.js";
import { between, betweenRightIncl } from "../ring/interval.js";
import type { Peer, RoutingTable } from "../ring/routing-table.js";
import type { KeyId } from "../store/store.js";
import type { AntiEntropy } from "./anti-entropy.js";
import { AE_MAX_CALM } from "./calm.js";
import type { ChordRecord, DataPlane } from "./data-plane.js";
import type { Lookup } from "./entry.js";
import type { ChordOptions } from "./options.js";

/** How many anti-entropy rounds over a whole replica set a confirmation stays valid. */
const CONFIRM_WINDOW_ROUNDS = 2;

export interface HandoffDeps {
  clock: Clock;
  log: Logger;
  table: RoutingTable;
  /** Nodes this node has heard of: one inside a confirmed range shows the confirmation out of date. */
  directory: RingDirectory;
  data: DataPlane;
  ae: AntiEntropy;
  lookup: (pos: Id) => Promise<Lookup>;
  /** Resolves when the peer answers a ping; a failure also drops it from the routing table. */
  ping: (peer: Peer) => Promise<unknown>;
}

export class Handoff {
  /** Records handed to their owners so far. */
  handedOff = 0;
  /** When the ring around this node last changed: older confirmations may be out of date. */
  changedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: HandoffDeps,
    private readonly opts: ChordOptions,
  ) {}

  async scan(): Promise<void> {
    const { table, data } = this.deps;
    const pred = table.predecessor;
    if (pred === undefined || table.alone || !data.fresh || data.store.size === 0) return;
    let pending = this.unconfirmed(pred.id);
    while (pending.length > 0) {
      const first = pending[0]![1];
      const found = await this.deps.lookup(first.pos);
      const segment = pending.filter(([, rec]) =>
        this.sameOwner(first.pos, rec.pos, found.node.id),
      );
      pending = pending.filter(([, rec]) => !this.sameOwner(first.pos, rec.pos, found.node.id));
      const holders = [found.node, ...found.succs];
      // Stranded only when the lookup's first `replication` holders all lie
      // between the record and this node: a lookup through a ring in flux (lost
      // messages, a crash, a restart) can name a wrong owner, even one past this
      // node, which is then the record's true holder.
      const self = table.self.id;
      const ahead = (p: Peer, pos: Id) => p.id === pos || between(pos, p.id, self);
      const stranded = segment.filter(([, rec]) => {
        const first = holders.slice(0, rec.replication);
        // A list shorter than the record's copies (cut off by a resolver, or a ring
        // smaller than that) proves nothing about the holders it leaves out.
        return (
          first.length === rec.replication &&
          !first.some((p) => p.id === self) &&
          first.every((p) => ahead(p, rec.pos))
        );
      });
      if (stranded.length === 0 || found.node.id === table.self.id) continue;
      // The holders that rank before this node must all be alive: a crashed node
      // still in the owner's list (its stabilize has not dropped it yet) pushes
      // this node past the first `replication`, while it is in fact a holder.
      const copies = Math.max(...stranded.map(([, rec]) => rec.replication));
      if (!(await this.allAlive(holders.slice(0, copies)))) continue;
      const rank = data.rules.ranks();
      const near = stranded.filter(([, rec]) => data.rules.near(table.self.id, rec.pos, rank));
      const far = stranded.filter(([, rec]) => !data.rules.near(table.self.id, rec.pos, rank));
      // Records a holder refused (its view puts us out of position) go through the owner too.
      const refused = near.length > 0 && (await this.pushNear(near, holders, found.node));
      const viaOwner = refused ? stranded : far;
      if (viaOwner.length > 0) await this.throughOwner(viaOwner, found.node);
    }
  }

  /**
   * Pushes records to their holders; drops them here once every holder took
   * them all. Returns whether any holder refused some (record-rules.ts).
   */
  private async pushNear(
    stranded: [KeyId, ChordRecord][],
    holders: readonly Peer[],
    owner: Peer,
  ): Promise<boolean> {
    const { data, log } = this.deps;
    const copies = Math.max(...stranded.map(([, rec]) => rec.replication));
    const to = holders.slice(0, copies);
    const refused = await Promise.all(
      to.map((p) =>
        data.push(p, stranded, "handoff").then(
          (n) => n,
          () => undefined,
        ),
      ),
    );
    if (refused.some((n) => n !== undefined && n > 0)) return true;
    // Every holder must take them: one that fails shows the holder list out of
    // date (a crashed node still in the owner's list), and without it this node
    // may be one of the record's true holders after all.
    if (refused.some((n) => n === undefined)) return false;
    data.drop(stranded);
    this.handedOff += stranded.length;
    log.info(
      { records: stranded.length, to: owner.addr },
      "handed stranded records to their replica set",
    );
    return false;
  }

  private async allAlive(peers: readonly Peer[]): Promise<boolean> {
    const alive = await Promise.all(
      peers.map((p) =>
        this.deps.ping(p).then(
          () => true,
          () => false,
        ),
      ),
    );
    return alive.every(Boolean);
  }

  /** Writes records through their owner as InsertValue; drops those it stored. */
  private async throughOwner(records: [KeyId, ChordRecord][], owner: Peer): Promise<void> {
    const took = await this.deps.data.insertAt(owner, records);
    this.deps.data.drop(took);
    this.handedOff += took.length;
    if (took.length > 0)
      this.deps.log.info(
        { records: took.length, to: owner.addr },
        "handed stranded records to their owner",
      );
  }

  /** Records outside our own range that no owner confirmed recently, clockwise from us. */
  private unconfirmed(predId: Id): [KeyId, ChordRecord][] {
    const { table, data, ae, clock, directory } = this.deps;
    const self = table.self.id;
    // At the calmest cadence an owner reaches each replica about once per
    // AE_MAX_CALM x antiEntropyMs x replication: a shorter window let an idle
    // ring's confirmations lapse, and every scan looked its records up again.
    const window =
      CONFIRM_WINDOW_ROUNDS * AE_MAX_CALM * this.opts.antiEntropyMs * this.opts.replication;
    const since = Math.max(clock.now() - window, this.changedAt);
    const ranges = [...ae.confirmed.entries()].filter(([, c]) => c.at >= since);
    const covered = (rec: ChordRecord) =>
      betweenRightIncl(predId, rec.pos, self) ||
      ranges.some(
        ([hi, c]) =>
          rec.replication >= c.minReplication &&
          betweenRightIncl(c.lo, rec.pos, hi) &&
          // A node known in [pos, hi) owns pos, not hi: the owner confirmed its range
          // with a view from before it learned of that node (a partition merging).
          directory.countIn(rec.pos, hi) === 0,
      );
    return data
      .live()
      .filter(([, rec]) => !covered(rec))
      .sort(([, a], [, b]) => (between(self, a.pos, b.pos) ? -1 : 1));
  }

  /** Whether `pos` has the same owner as `from`, whose owner is `owner`: pos in [from, owner]. */
  private sameOwner(from: Id, pos: Id, owner: Id): boolean {
    if (pos === from) return true;
    if (from === owner) return false;
    return betweenRightIncl(from, pos, owner);
  }
}
