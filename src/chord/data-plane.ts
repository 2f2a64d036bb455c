// The records this node holds, and what it does with them as owner. Policy:
// - Copies: a record keeps max(PUT hint, `replication`) copies, capped by r:
//   the owner and its first copies - 1 successors (its replica set).
// - InsertValue at the owner: store, then copy to the replica set; the write
//   is acknowledged once a majority of the set (the owner included) holds it,
//   while the remaining copies finish in the background.
// - Newest wins per key (store/store.ts): a copy never replaces a newer one.
// - Join: the successor pushes the newcomer every record outside
//   (newcomer, self]. Leave: every record goes to the successor first.
// - Freshness: after a pause or after being cut off the node is not fresh: it
//   answers as a plain holder (never as owner) until anti-entropy has run once
//   with its replicas (chord/anti-entropy.ts).
// Deadlines are absolute, so no copy ever extends a TTL.

import type { Logger } from "../log.js";
import type { Clock } from "../ports.js";
import { type Id, keyPosition } from "../ring/id.js";
import { betweenRightIncl } from "../ring/interval.js";
import type { Peer, RoutingTable } from "../ring/routing-table.js";
import { type KeyId, keyBytes, keyId, type PutOutcome, Store } from "../store/store.js";
import { recordDigest, type Summarizable } from "../store/summary.js";
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
import { awaitQuorum, majority } from "./quorum.js";

export interface ChordRecord extends Summarizable {
  readonly value: Buffer;
  readonly version: number;
  readonly deadline: number;
}

export type Caller = <K extends RpcName>(
  peer: Peer,
  name: K,
  body: RpcReq<K>,
  timeoutMs: number,
) => Promise<RpcRes<K>>;

export interface DataDeps {
  clock: Clock;
  log: Logger;
  table: RoutingTable;
  call: Caller;
  /** Whether this node may act as owner of `pos` (it owns it by a confirmed predecessor). */
  owns: (pos: Id) => boolean;
}

const BATCH_BYTES = 2 * 1024 * 1024;
/** Versions more than this far ahead of our clock are not trusted to move it. */
const MAX_VERSION_SKEW_MS = 60_000;

export const toWire = (rec: ChordRecord): WireRecord => ({
  value: rec.value,
  version: rec.version,
  deadline: rec.deadline,
  replication: rec.replication,
});

export class DataPlane {
  readonly store: Store<ChordRecord>;
  readonly versions = new VersionClock();
  private readonly expirer: Expirer;
  /** Bumped on every change of the store: summaries are cached per generation. */
  private gen = 0;
  private isFresh = true;
  private lastQuotaWarning = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: DataDeps,
    private readonly opts: ChordOptions,
  ) {
    this.store = new Store<ChordRecord>(opts.storeQuotaBytes);
    this.expirer = new Expirer({ store: this.store, clock: deps.clock }, () => this.gen++);
  }

  stop(): void {
    this.expirer.stop();
  }

  get generation(): number {
    return this.gen;
  }

  /** False while catching up after a pause or a partition. */
  get fresh(): boolean {
    return this.isFresh;
  }

  set fresh(value: boolean) {
    if (value !== this.isFresh) this.deps.log.debug({ fresh: value }, "freshness changed");
    this.isFresh = value;
  }

  /** Copies a PUT asks for: max(hint, configured replication), within [1, r]. */
  copiesFor(hint: number): number {
    return Math.min(Math.max(hint, this.opts.replication, 1), this.opts.successorListLength);
  }

  /** The peers that hold copies of a record this node owns: its first copies - 1 successors. */
  replicaPeers(copies: number): readonly Peer[] {
    return this.deps.table.successors.slice(0, copies - 1);
  }

  getLocal(key: Buffer): WireRecord | null {
    const rec = this.store.get(keyId(key), this.deps.clock.now());
    return rec === undefined ? null : toWire(rec);
  }

  /**
   * This node's answer to GetValue. `serves`: whether an owner recently confirmed
   * this node replicates the key's range; an answer is fresh only from a fresh
   * node that owns or serves the key, so a node outside the replica set (a wrong
   * lookup, a replica not yet synced) never vouches for a key's absence.
   */
  localAnswer(key: Buffer, serves: (pos: Id) => boolean): RpcRes<"getValue"> {
    const pos = keyPosition(key);
    const owner = this.isFresh && this.deps.owns(pos);
    const rec = this.getLocal(key);
    const vouches = this.deps.table.owns(pos) || serves(pos);
    if (!owner) return { rec, owner, fresh: this.isFresh && vouches };
    return { rec, owner, fresh: true, succs: this.deps.table.successors.map((p) => p.addr) };
  }

  /** Every live record. */
  live(): [KeyId, ChordRecord][] {
    return [...this.store.entries(this.deps.clock.now())];
  }

  /**
   * As the responsible node: store, copy to the replica set, and report the
   * write stored once a majority of the set holds it. With `strict`, a node
   * that does not own the key (or is not fresh) stores nothing.
   */
  async insertAsOwner(
    key: Buffer,
    rec: WireRecord,
    strict: boolean,
    pos = keyPosition(key),
  ): Promise<RpcRes<"insertValue">> {
    const owner = this.deps.owns(pos) && this.isFresh;
    if (strict && !owner) return { stored: false, owner };
    const outcome = this.storeOne(keyId(key), rec, pos);
    // A newer version is already here: this write was superseded by a concurrent one.
    if (outcome === "stale") return { stored: true, owner };
    if (outcome !== "stored" && outcome !== "same") return { stored: false, owner };
    const peers = this.replicaPeers(rec.replication);
    const entries = [{ key, rec }];
    const acks = peers.map((p) =>
      this.deps
        .call(p, "storeReplicas", { entries }, this.opts.rpcTimeoutMs)
        .then(() => true)
        .catch(() => false),
    );
    const need = majority(peers.length + 1) - 1;
    return { stored: await awaitQuorum(acks, need), owner };
  }

  /** Stores a batch of copies (replication, repair, handover); returns how many were new. */
  storeBatch(entries: readonly WireEntry[]): number {
    let stored = 0;
    for (const e of entries) {
      if (this.storeOne(keyId(e.key), e.rec, keyPosition(e.key)) === "stored") stored++;
    }
    return stored;
  }

  /** Drops records handed to their replica set (chord/handoff.ts), unless a newer write replaced them meanwhile. */
  drop(records: readonly [KeyId, ChordRecord][]): void {
    const now = this.deps.clock.now();
    for (const [id, rec] of records) {
      if (this.store.get(id, now)?.digest !== rec.digest) continue;
      if (this.store.delete(id)) this.gen++;
    }
  }

  private storeOne(id: KeyId, rec: WireRecord, pos: Id): PutOutcome {
    const now = this.deps.clock.now();
    if (rec.version <= (now + MAX_VERSION_SKEW_MS) * 1000) this.versions.observe(rec.version);
    const key = keyBytes(id);
    const outcome = this.store.put(
      id,
      {
        value: rec.value,
        version: rec.version,
        deadline: rec.deadline,
        replication: rec.replication,
        pos,
        digest: recordDigest(key, rec.version, rec.value),
      },
      now,
    );
    if (outcome === "stored") {
      this.gen++;
      this.expirer.touch();
    } else if (outcome === "over-quota") this.warnQuota(now);
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

  /** Sends records in batches bounded in count and bytes; throws if a batch fails. */
  async push(peer: Peer, records: readonly [KeyId, ChordRecord][]): Promise<void> {
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
