// Ring maintenance by the corrected Chord rules (Zave 2017). Cadences are set
// by chord/upkeep.ts (jittered 0.5x-1.5x, never overlapping, slower while calm):
//   stabilize every stabilizeMs: ask the first live successor for its
//     predecessor and list, adopt a closer live successor, notify it;
//   fix one finger every fixFingersMs (fingers sharing a node are filled
//     together; 8x slower after the first whole pass);
//   ping the predecessor every checkPredecessorMs.
// Rectify adopts a notifier that lies closer, or any once the predecessor is dead.
// Every change of the replica set or of the owned range is reported upwards
// (anti-entropy syncs at once), and every change of the successor list is
// told to the predecessor, whose list changes too.

import type { Logger } from "../log.js";
import type { RingDirectory } from "../ring/directory.js";
import { distance, fingerStart, ID_BITS, type Id } from "../ring/id.js";
import { between } from "../ring/interval.js";
import { type Peer, peerAt, type RoutingTable } from "../ring/routing-table.js";
import type { RpcReq, RpcRes } from "../wire/peer.js";
import type { Caller } from "./data-plane.js";
import type { Lookup } from "./entry.js";
import type { ChordOptions } from "./options.js";
import type { PeerGate } from "./peer-gate.js";

/** How far one stabilize run walks back along predecessors towards the true successor. */
const MAX_STABILIZE_STEPS = 16;

export interface StabilizerDeps {
  log: Logger;
  /** The clock's now(), ms. */
  now: () => number;
  table: RoutingTable;
  directory: RingDirectory;
  call: Caller;
  /** Which peers may enter the table (bans, per-IP cap, second-hand ones verified first). */
  gate: PeerGate;
  /** Tells a successor we may be its predecessor (getting admitted first if it asks). */
  notify: (succ: Peer) => Promise<void>;
  /** GetNode started at this node. */
  resolve: (pos: Id) => Promise<Lookup>;
  /** The nodes holding our copies, or our own range, changed. */
  onReplicasChanged: () => void;
  /** Our range grew (a predecessor died or left): the owner role covers more. */
  onRangeGrew: () => void;
  /** A new predecessor took (lo, hi] off our range: we are now its first replica. */
  onRangeShrank: (lo: Id, hi: Id) => void;
}

export class Stabilizer {
  private nextFinger = 0;
  /** Whole passes over the fingers so far. */
  fingerPasses = 0;
  private confirmed = false;
  /** When the predecessor last stabilized with us as its successor. */
  private predHeardAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: StabilizerDeps,
    private readonly opts: ChordOptions,
  ) {}

  async stabilize(): Promise<void> {
    const { table: t, call } = this.deps;
    if (t.alone) {
      const pred = t.predecessor;
      if (pred !== undefined) this.setSuccessors([pred]);
      if (t.alone) return;
    }
    while (!t.alone) {
      const succ = this.closerKnownSuccessor() ?? t.successor();
      let nb: RpcRes<"getNeighbours">;
      try {
        const fromPred = succ.id === t.successor().id;
        nb = await call(succ, "getNeighbours", { fromPred }, this.opts.rpcTimeoutMs);
      } catch {
        if (succ.id !== t.successor().id) {
          // A candidate that fails, even with an error reply, is dropped everywhere,
          // so the next turn of this loop cannot pick it again.
          t.removePeer(succ.id);
          this.deps.directory.remove(succ.id);
        } else if (t.has(succ.id)) return; // it answered with an error
        continue; // call() removed it from the table: try the next one
      }
      const { list, pred } = await this.closestLiveSuccessor(succ, nb);
      await this.deps.gate.verify(list);
      this.setSuccessors(list);
      // Notify only when the successor does not already name us (saves a call per run).
      if (pred !== t.self.addr) {
        await this.deps.notify(t.successor()).catch(() => undefined);
      }
      return;
    }
  }

  /**
   * A peer we know of (location cache, finger, successor list) lying between us and our
   * successor, nearest to us: a better successor candidate than the list's
   * head, checked by asking it for its neighbours.
   */
  private closerKnownSuccessor(): Peer | undefined {
    const t = this.deps.table;
    const nearest = this.deps.directory.successorOf(fingerStart(t.self.id, 0));
    if (nearest !== undefined && between(t.self.id, nearest.id, t.successor().id)) return nearest;
    const inside = t.closestPreceding(t.successor().id);
    return inside[inside.length - 1];
  }

  /**
   * Zave's stabilize step, repeated: while the successor's predecessor lies
   * between us and it and answers, it is the closer successor. Returns the
   * successor list to adopt: that node and its own list.
   */
  async closestLiveSuccessor(
    succ: Peer,
    nb: RpcRes<"getNeighbours">,
    maxSteps = MAX_STABILIZE_STEPS,
  ): Promise<{ list: Peer[]; pred: string | null }> {
    const self = this.deps.table.self.id;
    let best = succ;
    let view = nb;
    for (let step = 0; step < maxSteps; step++) {
      const p = view.pred === null ? undefined : peerAt(view.pred);
      if (p === undefined || p.id === self || !between(self, p.id, best.id)) break;
      const closer = await this.deps
        .call(p, "getNeighbours", {}, this.opts.rpcTimeoutMs)
        .catch(() => undefined);
      if (closer === undefined) break;
      best = p;
      view = closer;
    }
    return { list: [best, ...view.succs.map(peerAt)], pred: view.pred };
  }

  setSuccessors(list: readonly Peer[]): void {
    const t = this.deps.table;
    // The table replaces its list, never changes it in place: the old one stays as it was.
    const old = t.successors;
    const before = t.successor().id;
    const admitted = this.deps.gate.filter(list);
    if (admitted.length === 0) return;
    t.setSuccessors(admitted);
    for (const p of t.successors) this.deps.directory.add(p);
    const after = t.successor();
    if (after.id !== before) this.deps.log.info({ successor: after.addr }, "successor changed");
    if (!sameIds(old, t.successors, Number.POSITIVE_INFINITY)) {
      this.deps.onReplicasChanged();
      // Our predecessor's list is us and our first r - 1: a change past them is invisible to it.
      if (!sameIds(old, t.successors, this.opts.successorListLength - 1)) this.pokePredecessor();
    }
  }

  /**
   * The part of our successor list that our predecessor copies changed (a node
   * failed, left or joined within its reach): so will its list, at its next stabilize. Telling it (newSuccessor
   * from its own successor) makes it stabilize at once even while calm, so a
   * change reaches the whole replica set in r short steps rather than r calm
   * ones (a healed partition changes every list, and its copies wait on them).
   */
  private pokePredecessor(): void {
    const pred = this.deps.table.predecessor;
    if (pred !== undefined) this.poke(pred);
  }

  /** NewSuccessor from us: `p`'s successor (us) has news for it, or we lie closer than its own. */
  private poke(p: Peer): void {
    void this.deps.call(p, "newSuccessor", {}, this.opts.rpcTimeoutMs).catch(() => undefined);
  }

  /**
   * Whether our predecessor has shown it names us as its successor (it notified
   * us, split its range for us, or said so when checked). Only then do we act as
   * owner: a predecessor pointer left behind by a partition or lost messages
   * would otherwise make two nodes own the same keys.
   */
  get predConfirmed(): boolean {
    return this.confirmed;
  }

  /**
   * Our predecessor's stabilize asked us as its successor: it is alive and names
   * us, which is what a check would ask it.
   */
  heardFromPredecessor(): void {
    this.confirmed = true;
    this.predHeardAt = this.deps.now();
  }

  /**
   * Asks the predecessor for its successor: dead, confirmed, or not (yet) pointing
   * at us. `skipWithinMs`: not when its stabilize told us as much within that time.
   */
  async checkPredecessor(skipWithinMs = 0): Promise<void> {
    const t = this.deps.table;
    const pred = t.predecessor;
    if (pred === undefined) return;
    if (this.confirmed && this.deps.now() - this.predHeardAt < skipWithinMs) return;
    try {
      const nb = await this.deps.call(pred, "getNeighbours", {}, this.opts.rpcTimeoutMs);
      if (t.predecessor?.id === pred.id) this.confirmed = nb.succs[0] === t.self.addr;
    } catch {
      if (t.predecessor?.id === pred.id) this.changePredecessor(undefined);
      this.deps.log.info({ predecessor: pred.addr }, "predecessor failed");
    }
  }

  /**
   * Fixes finger i, and with it every following finger the same node covers:
   * finger j starts at self + 2^j, inside (self, node] while 2^j <= distance.
   */
  async fixFinger(): Promise<void> {
    const t = this.deps.table;
    if (t.alone) return;
    const self = t.self.id;
    const i = this.nextFinger;
    const found = (await this.deps.resolve(fingerStart(self, i))).node;
    // A finger the gate refuses (not verified yet, capped, banned) stays as it was this pass.
    const node =
      found.id === self || this.deps.gate.accepts(found) ? found : (t.finger(i) ?? t.self);
    const last = node.id === self ? i : Math.max(i, distance(self, node.id).toString(2).length - 1);
    t.setFingers(i, last, node);
    this.deps.directory.add(node);
    this.nextFinger = last + 1 >= ID_BITS ? 0 : last + 1;
    if (this.nextFinger === 0) {
      this.fingerPasses++;
      await this.checkFound();
    }
  }

  /**
   * Whether the ring finds us: GetNode(own id), asked of our farthest known peer,
   * must name us. A node the ring bypassed (joins raced past it, and it sits in a
   * chain of such nodes that agree with each other) is told instead the node the
   * ring has in its place; that one goes into the location cache, and the next
   * stabilize checks it as a closer successor (closerKnownSuccessor). Once per
   * finger pass; the answer is only a candidate, checked by calling it.
   */
  private async checkFound(): Promise<void> {
    const t = this.deps.table;
    if (t.alone) return;
    const self = t.self.id;
    const near = new Set([...t.successors.map((p) => p.id), t.predecessor?.id]);
    let far: Peer | undefined;
    for (const p of t.knownPeers())
      if (!near.has(p.id) && (far === undefined || distance(self, p.id) > distance(self, far.id)))
        far = p;
    if (far === undefined) return;
    const res = await this.deps
      .call(far, "getNode", { pos: Buffer.from(self, "hex"), hops: 0 }, this.opts.lookupTimeoutMs)
      .catch(() => undefined);
    if (res === undefined) return;
    const named = peerAt(res.node);
    if (named.id === self || !between(self, named.id, t.successor().id)) return;
    this.deps.log.info({ named: named.addr }, "the ring does not find this node; merging");
    this.deps.directory.add(named);
    this.deps.onReplicasChanged();
  }

  /**
   * Rectify: adopt `p` as predecessor if it is closer than the current one,
   * or, once a check shows the current one dead, in any case (Zave's rectify;
   * the check runs in the background so the notifier's call is never held up).
   * `confirmed`: p names us as its successor (it notified us or joined before
   * us); such a p also replaces a predecessor that was found not to.
   */
  rectify(p: Peer, confirmed = false): void {
    const t = this.deps.table;
    if (p.id === t.self.id || !this.deps.gate.accepts(p)) return;
    const pred = t.predecessor;
    if (pred === undefined || between(pred.id, p.id, t.self.id))
      this.changePredecessor(p, confirmed);
    else if (pred.id === p.id) this.confirmed ||= confirmed;
    else if (confirmed && !this.confirmed) this.changePredecessor(p, true);
    else {
      void this.checkPredecessor().then(() => {
        if (t.predecessor === undefined) this.changePredecessor(p, confirmed);
      });
    }
    if (t.alone) this.setSuccessors([p]);
  }

  changePredecessor(p: Peer | undefined, confirmed = false): void {
    const t = this.deps.table;
    const old = t.predecessor;
    if (old?.id === p?.id) return;
    this.confirmed = p !== undefined && confirmed;
    this.predHeardAt = Number.NEGATIVE_INFINITY;
    t.setPredecessor(p);
    this.deps.log.info({ predecessor: p?.addr ?? null }, "predecessor changed");
    // Our range grew unless the new predecessor lies between the old one and us.
    if (old === undefined || p === undefined || !between(old.id, p.id, t.self.id)) {
      this.deps.onRangeGrew();
    } else {
      this.deps.onRangeShrank(old.id, p.id);
      // The old predecessor's successor is now p: wake it, it finds p at its next stabilize.
      this.poke(old);
    }
    this.deps.onReplicasChanged();
  }

  /** A node says it joined right after us: adopt it as successor if it lies closer and answers. */
  async considerSuccessor(p: Peer): Promise<void> {
    const t = this.deps.table;
    const closer = () => t.alone || between(t.self.id, p.id, t.successor().id);
    if (p.id === t.self.id || !closer()) return;
    const nb = await this.deps
      .call(p, "getNeighbours", {}, this.opts.rpcTimeoutMs)
      .catch(() => undefined);
    if (nb === undefined || !closer()) return;
    const list = [p, ...nb.succs.map(peerAt)];
    await this.deps.gate.verify(list);
    if (closer()) this.setSuccessors(list);
  }

  /**
   * A neighbour (the verified caller) leaves gracefully: link around it. Only our
   * predecessor or a member of our successor list can leave our table this way.
   */
  onLeaving(leaver: Peer, body: RpcReq<"leaving">): void {
    const t = this.deps.table;
    const neighbour =
      t.predecessor?.id === leaver.id || t.successors.some((s) => s.id === leaver.id);
    if (!neighbour) return;
    if (t.predecessor?.id === leaver.id) {
      // The leaver's predecessor is second-hand: taken only once verified (it will notify us).
      const next = body.pred === null ? undefined : peerAt(body.pred);
      this.changePredecessor(next !== undefined && this.deps.gate.accepts(next) ? next : undefined);
    }
    const at = t.successors.findIndex((s) => s.id === leaver.id);
    // Only the leaver goes: the rest of our list stays, its successors fill in behind it.
    if (at >= 0)
      this.setSuccessors([
        ...t.successors.slice(0, at),
        ...body.succs.map(peerAt),
        ...t.successors.slice(at + 1),
      ]);
    t.removePeer(leaver.id);
    this.deps.directory.remove(leaver.id);
    this.deps.log.info({ peer: leaver.addr }, "peer left");
  }
}

/** Whether the first `n` peers of two lists (fewer where a list is shorter) are the same nodes. */
function sameIds(a: readonly Peer[], b: readonly Peer[], n: number): boolean {
  const k = Math.min(n, a.length);
  if (k !== Math.min(n, b.length)) return false;
  for (let i = 0; i < k; i++) if (a[i]!.id !== b[i]!.id) return false;
  return true;
}
