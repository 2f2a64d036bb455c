// Values on the ring. Policy:
// - PUT: the entry node versions the write (HLC) and fixes its absolute
//   deadline, resolves the responsible node (GetNode) and sends it InsertValue;
//   the owner stores it and copies it to its first replication-1 successors
//   before acknowledging. Replication hints are clamped to [1, r].
// - Location cache: every node heard of is kept sorted by ID; PUT and GET
//   first go straight to the cached successor of the key's position, which
//   answers only if it owns the key (its own predecessor decides). Otherwise
//   they take the long way below; a wrong guess costs one call.
// - GET: ask the owner; when it fails or has nothing, ask the replicas
//   (the owner's first max(replication - 1, 1) successors) at once and take
//   the newest live copy.
// - Repair (every repairMs): when a successor appears that has not been
//   synced, or our range grew (a predecessor died or left), push our owned
//   records to the successors that must hold them.
// - Join: a new node's successor pushes it every record outside (new, self].
//   Leave: every record goes to the successor before the node exits.
// Deadlines are absolute, so no copy ever extends a TTL.

import type { Logger } from "../log.js";
import type { Clock, PutRequest } from "../ports.js";
import { type Id, keyPosition } from "../ring/id.js";
import { betweenRightIncl } from "../ring/interval.js";
import type { Peer, RoutingTable } from "../ring/routing-table.js";
import {
  type KeyId,
  keyBytes,
  keyId,
  type PutOutcome,
  Store,
  supersedes,
  type Versioned,
} from "../store/store.js";
import { VersionClock } from "../store/version.js";
import {
  PEER_MAX_BATCH_ENTRIES,
  type RpcName,
  type RpcReq,
  type RpcRes,
  type WireEntry,
  type WireRecord,
} from "../wire/peer.js";
import { Expirer } from "./expirer.js";
import type { ChordOptions } from "./options.js";
import { deadlineOf } from "./ttl.js";

export interface ChordRecord extends Versioned {
  readonly replication: number;
  /** Ring position of the key (SHA-256), cached. */
  readonly pos: Id;
}

export type Caller = <K extends RpcName>(
  peer: Peer,
  name: K,
  body: RpcReq<K>,
  timeoutMs: number,
) => Promise<RpcRes<K>>;

export interface Lookup {
  node: Peer;
  /** The owner's successors as far as the resolver knows them: the replicas. */
  succs: readonly Peer[];
  hops: number;
}

const BATCH_BYTES = 2 * 1024 * 1024;
/** Versions more than this far ahead of our clock are not trusted to move it. */
const MAX_VERSION_SKEW_MS = 60_000;

export class DataPlane {
  readonly store: Store<ChordRecord>;
  private readonly versions = new VersionClock();
  private readonly expirer: Expirer;
  /**
   * Sync level per successor: it holds every owned record whose replication
   * reaches list index `level` (replication - 1 > level).
   */
  private readonly synced = new Map<Id, number>();
  /** Bumped when our range grows, so a repair run that started before does not count. */
  private rangeEpoch = 0;
  private lastQuotaWarning = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: {
      clock: Clock;
      log: Logger;
      table: RoutingTable;
      call: Caller;
      lookup: (pos: Id) => Promise<Lookup>;
      /** A cached guess at the owner of `pos` (location cache), confirmed by the guessed node. */
      guessOwner: (pos: Id) => Peer | undefined;
    },
    private readonly opts: ChordOptions,
  ) {
    this.store = new Store<ChordRecord>(opts.storeQuotaBytes);
    this.expirer = new Expirer({ store: this.store, clock: deps.clock });
  }

  stop(): void {
    this.expirer.stop();
  }

  // --- the client path (this node is the entry node) ---

  async put(req: PutRequest): Promise<void> {
    const now = this.deps.clock.now();
    const wanted = req.replication === 0 ? this.opts.replication : req.replication;
    const rec: WireRecord = {
      value: req.value,
      version: this.versions.next(now),
      deadline: deadlineOf(req.ttl, now, this.opts),
      replication: Math.min(Math.max(wanted, 1), this.opts.successorListLength),
    };
    const pos = keyPosition(req.key);
    if (await this.insertAtGuess(pos, req.key, rec)) return;
    for (let attempt = 0; attempt < 3; attempt++) {
      const owner = await this.deps.lookup(pos);
      if (owner.node.id === this.deps.table.self.id) {
        await this.insertAsOwner(req.key, rec, pos);
        return;
      }
      try {
        await this.deps.call(
          owner.node,
          "insertValue",
          { key: req.key, rec },
          this.opts.rpcTimeoutMs,
        );
        return;
      } catch {
        // the caller has routed around the dead owner; look up again
      }
    }
    throw new Error("PUT: the responsible node could not be reached");
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    if (this.deps.table.alone) return this.store.get(keyId(key), this.deps.clock.now())?.value;
    const pos = keyPosition(key);
    const cached = await this.fetchAtGuess(pos, key);
    if (cached !== undefined) return cached.value;
    const owner = await this.deps.lookup(pos);
    const first = await this.fetch(owner.node, key);
    if (first !== undefined) return first.value;
    const replicas = owner.succs
      .filter((p) => p.id !== owner.node.id)
      .slice(0, Math.max(this.opts.replication - 1, 1));
    const copies = await Promise.all(replicas.map((p) => this.fetch(p, key)));
    let best: WireRecord | undefined;
    for (const c of copies)
      if (c !== undefined && (best === undefined || supersedes(c, best))) best = c;
    return best?.value;
  }

  /** The live copy at the cached owner, when that node confirms it owns the key. */
  private async fetchAtGuess(pos: Id, key: Buffer): Promise<WireRecord | undefined> {
    const guess = this.deps.guessOwner(pos);
    if (guess === undefined) return undefined;
    if (guess.id === this.deps.table.self.id) {
      return this.deps.table.owns(pos) ? this.liveRecord(this.getLocal(key)) : undefined;
    }
    try {
      const res = await this.deps.call(guess, "getValue", { key }, this.opts.rpcTimeoutMs);
      return res.owner ? this.liveRecord(res.rec) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores at the cached owner if it confirms it owns the key; false sends the PUT the long way. */
  private async insertAtGuess(pos: Id, key: Buffer, rec: WireRecord): Promise<boolean> {
    const guess = this.deps.guessOwner(pos);
    if (guess === undefined) return false;
    if (guess.id === this.deps.table.self.id) {
      if (!this.deps.table.owns(pos)) return false;
      await this.insertAsOwner(key, rec, pos);
      return true;
    }
    try {
      const res = await this.deps.call(
        guess,
        "insertValue",
        { key, rec, strict: true },
        this.opts.rpcTimeoutMs,
      );
      return res.owner;
    } catch {
      return false;
    }
  }

  private liveRecord(rec: WireRecord | null): WireRecord | undefined {
    return rec !== null && this.deps.clock.now() <= rec.deadline ? rec : undefined;
  }

  private async fetch(peer: Peer, key: Buffer): Promise<WireRecord | undefined> {
    try {
      const rec =
        peer.id === this.deps.table.self.id
          ? this.getLocal(key)
          : (await this.deps.call(peer, "getValue", { key }, this.opts.rpcTimeoutMs)).rec;
      return this.liveRecord(rec);
    } catch {
      return undefined;
    }
  }

  // --- what peers ask of this node ---

  getLocal(key: Buffer): WireRecord | null {
    const rec = this.store.get(keyId(key), this.deps.clock.now());
    return rec === undefined ? null : toWire(rec);
  }

  /** Stores as the responsible node, then copies to replication-1 successors. */
  async insertAsOwner(key: Buffer, rec: WireRecord, pos = keyPosition(key)): Promise<boolean> {
    const outcome = this.storeOne(keyId(key), rec, pos);
    if (outcome !== "stored" && outcome !== "same") return false;
    const replicas = this.deps.table.successors.slice(0, rec.replication - 1);
    if (replicas.length === 0) return true;
    await Promise.all(
      replicas.map((p) =>
        this.deps
          .call(p, "storeReplicas", { entries: [{ key, rec }] }, this.opts.rpcTimeoutMs)
          .catch(() => undefined),
      ),
    );
    return true;
  }

  /** Stores a batch of copies (replication, repair, handover); returns how many were new. */
  storeBatch(entries: readonly WireEntry[]): number {
    let stored = 0;
    for (const e of entries) {
      if (this.storeOne(keyId(e.key), e.rec, keyPosition(e.key)) === "stored") stored++;
    }
    return stored;
  }

  private storeOne(id: KeyId, rec: WireRecord, pos: Id): PutOutcome {
    const now = this.deps.clock.now();
    if (rec.version <= (now + MAX_VERSION_SKEW_MS) * 1000) this.versions.observe(rec.version);
    const outcome = this.store.put(
      id,
      {
        value: rec.value,
        version: rec.version,
        deadline: rec.deadline,
        replication: rec.replication,
        pos,
      },
      now,
    );
    if (outcome === "stored") this.expirer.touch();
    else if (outcome === "over-quota") this.warnQuota(now);
    return outcome;
  }

  /** Join: push `newcomer` every record that is no longer ours, i.e. outside (newcomer, self]. */
  async splitTo(newcomer: Peer): Promise<number> {
    const self = this.deps.table.self.id;
    const moving = this.live().filter(([, rec]) => !betweenRightIncl(newcomer.id, rec.pos, self));
    await this.push(newcomer, moving);
    return moving.length;
  }

  /** Leave: hand every record to the first successor that takes it. */
  async handOverAll(): Promise<number> {
    const all = this.live();
    if (all.length === 0) return 0;
    for (const succ of this.deps.table.successors) {
      try {
        await this.push(succ, all);
        return all.length;
      } catch (err) {
        this.deps.log.warn(
          { peer: succ.addr, reason: (err as Error).message },
          "handover failed, trying the next successor",
        );
      }
    }
    throw new Error(`could not hand over ${all.length} records: no successor took them`);
  }

  /**
   * Call after every change of the successor list. A synced successor that
   * moved farther away only holds what its new place needs (new writes go to
   * the current places), so its sync level drops to that place; one that moves
   * closer again is then re-synced by repair().
   */
  noteSuccessors(): void {
    this.deps.table.successors.forEach((t, index) => {
      const level = this.synced.get(t.id);
      if (level !== undefined && level < index) this.synced.set(t.id, index);
    });
  }

  /** Our range grew (predecessor died or left): every replica must be re-synced. */
  onRangeGrew(): void {
    this.synced.clear();
    this.rangeEpoch++;
  }

  /**
   * Repair: push owned records to each successor that must hold a copy and
   * has not been synced at its current place in the list (a successor that
   * moves closer, because one before it died, must now hold more).
   */
  async repair(): Promise<void> {
    const { table } = this.deps;
    if (table.alone || table.predecessor === undefined) return;
    const targets = table.successors.slice(0, this.opts.successorListLength - 1);
    for (const id of this.synced.keys())
      if (!targets.some((t) => t.id === id)) this.synced.delete(id);
    const fresh = targets
      .map((t, index) => ({ t, index }))
      .filter(({ t, index }) => (this.synced.get(t.id) ?? Number.POSITIVE_INFINITY) > index);
    if (fresh.length === 0) return;
    const epoch = this.rangeEpoch;
    const owned = this.live().filter(([, rec]) => table.owns(rec.pos));
    for (const { t, index } of fresh) {
      const due = owned.filter(([, rec]) => rec.replication - 1 > index);
      await this.push(t, due);
      if (epoch !== this.rangeEpoch) return; // the range grew meanwhile: the next run redoes it
      this.synced.set(t.id, index);
      if (due.length > 0)
        this.deps.log.debug({ peer: t.addr, records: due.length }, "replicas repaired");
    }
  }

  private live(): [KeyId, ChordRecord][] {
    return [...this.store.entries(this.deps.clock.now())];
  }

  /** Sends records in batches bounded in count and bytes; throws if a batch fails. */
  private async push(peer: Peer, records: readonly [KeyId, ChordRecord][]): Promise<void> {
    let batch: WireEntry[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const entries = batch;
      batch = [];
      bytes = 0;
      await this.deps.call(peer, "storeReplicas", { entries }, this.opts.transferTimeoutMs);
    };
    for (const [id, rec] of records) {
      if (batch.length >= PEER_MAX_BATCH_ENTRIES || bytes + rec.value.length > BATCH_BYTES)
        await flush();
      batch.push({ key: keyBytes(id), rec: toWire(rec) });
      bytes += rec.value.length + 64;
    }
    await flush();
  }

  private warnQuota(now: number): void {
    if (now - this.lastQuotaWarning < 60_000) return;
    this.lastQuotaWarning = now;
    this.deps.log.warn(
      { quotaBytes: this.opts.storeQuotaBytes, usedBytes: this.store.bytes },
      "store full: value refused (store_quota_bytes)",
    );
  }
}

const toWire = (rec: ChordRecord): WireRecord => ({
  value: rec.value,
  version: rec.version,
  deadline: rec.deadline,
  replication: rec.replication,
});
