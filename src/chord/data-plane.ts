// The records this node holds, and what it does with them as owner. Policy:
// - Copies: a record keeps max(PUT hint, `replication`) copies, capped by r:
//   the owner and its first copies - 1 successors (its replica set).
// - InsertValue at the owner: store, then copy to the replica set; the write
//   is acknowledged once a majority of the set (the owner included) holds it,
//   while the remaining copies finish in the background.
// - Newest wins per key (store/store.ts): a copy never replaces a newer one.
// - Join: the successor pushes the newcomer every record outside
//   (newcomer, self] near it. Leave: every record near the successor goes to
//   it, the few stranded beyond through their owners (near: record-rules.ts).
// - Freshness: after a pause or after being cut off the node is not fresh: it
//   answers as a plain holder (never as owner) until anti-entropy has run once
//   with its replicas (chord/anti-entropy.ts).
// - Records from peers pass chord/record-rules.ts first: versions bounded by
//   our clock plus 60 s, deadlines clamped to receipt + max_store_duration,
//   and (storeReplicas, anti-entropy `give`) only keys this node serves from
//   a sender in a position to send them. InsertValue stores only at the fresh
//   owner by a confirmed predecessor: there is no non-strict path.
// - Persistence (optional, `data_dir`): every change of the store goes to the
//   RecordPersistence port in order; an owner acknowledges a write, and a
//   replica a StoreReplicas, only once its own copy is durable. Records loaded
//   at start (restore) count as a node coming back: not fresh until
//   anti-entropy with its replicas has run (chord-node.ts).
// Deadlines are absolute, so no copy ever extends a TTL.

import type { Logger } from "../log.js";
import type {
  Clock,
  NodeObserver,
  Offence,
  PeerCaller,
  RecordPersistence,
  RepairKind,
} from "../ports.js";
import type { RingDirectory } from "../ring/directory.js";
import { type Id, keyPosition } from "../ring/id.js";
import { hostOf } from "../ring/ip-group.js";
import { type Peer, peerAt, type RoutingTable } from "../ring/routing-table.js";
import { PackedRecord } from "../store/packed-record.js";
import { type KeyId, keyBytes, keyId, type PutOutcome, Store } from "../store/store.js";
import { recordDigest } from "../store/summary.js";
import { VersionClock } from "../store/version.js";
import {
  PEER_MAX_BATCH_ENTRIES,
  type RpcName,
  type RpcReq,
  type RpcRes,
  type WireEntry,
  type WireRecord,
} from "../wire/peer.js";
import type { Lookup } from "./entry.js";
import { Expirer } from "./expirer.js";
import type { ChordOptions } from "./options.js";
import { awaitQuorum, majority } from "./quorum.js";
import { futureText, judge, RecordRules } from "./record-rules.js";
import { handOverAll, splitTo, type TransferDeps } from "./transfer.js";

/** A stored record (kept packed: store/packed-record.ts). */
export type ChordRecord = PackedRecord;

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
  /** The location cache: with the routing table, this node's view of the ring. */
  directory: RingDirectory;
  /** GetNode through the ring: checks a sender of records never heard of. */
  lookup?: (pos: Id) => Promise<Lookup>;
  /** Misbehaviour found in a peer's records (misbehaviour scores). */
  report?: (from: PeerCaller, offence: Offence, detail: string) => void;
  /** Repair and transfer traffic, for metrics. */
  observer?: NodeObserver;
  /** Where records are kept across restarts; none: memory only. */
  persist?: RecordPersistence;
}

const BATCH_BYTES = 2 * 1024 * 1024;

export const toWire = (rec: ChordRecord): WireRecord => ({
  value: rec.value,
  version: rec.version,
  deadline: rec.deadline,
  replication: rec.replication,
});

export class DataPlane {
  readonly store: Store<ChordRecord>;
  readonly versions = new VersionClock();
  readonly rules: RecordRules;
  private readonly expirer: Expirer;
  /** Bumped on every change of the store: summaries are cached per generation. */
  private gen = 0;
  private isFresh = true;
  /** Records coming back from persistence are not written back to it. */
  private restoring = false;
  private lastQuotaWarning = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: DataDeps,
    private readonly opts: ChordOptions,
  ) {
    const persist = deps.persist;
    this.store = new Store<ChordRecord>(
      opts.storeQuotaBytes,
      persist === undefined ? undefined : (id) => persist.delete(keyBytes(id)),
    );
    this.rules = RecordRules.over(
      { ...deps, neighbours: (p) => deps.call(p, "getNeighbours", {}, opts.rpcTimeoutMs) },
      opts,
    );
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
   * write stored once a majority of the set holds it. A node that does not own
   * the key by a confirmed predecessor, or is not fresh, stores nothing; nor
   * does any node a version past the clock plus the skew (reported when a
   * peer sent it). `from`: the peer that sent it, if any.
   */
  async insertAsOwner(
    key: Buffer,
    rec: WireRecord,
    pos = keyPosition(key),
    from?: PeerCaller,
  ): Promise<RpcRes<"insertValue">> {
    const owner = this.deps.owns(pos) && this.isFresh;
    const ok = this.rules.bounded(rec);
    if (ok === undefined) {
      if (from !== undefined)
        this.deps.report?.(from, "impossibleClaim", `insertValue: ${futureText(1)}`);
      return { stored: false, owner };
    }
    if (!owner) return { stored: false, owner };
    const outcome = this.storeOne(keyId(key), ok, pos);
    // A newer version is already here (durable, or about to be): this write was superseded.
    if (outcome === "stale") return { stored: await this.durable(), owner };
    if (outcome !== "stored" && outcome !== "same") return { stored: false, owner };
    const peers = this.replicaPeers(ok.replication);
    const entries = [{ key, rec: ok }];
    const acks = peers.map((p) =>
      this.deps
        .call(p, "storeReplicas", { entries }, this.opts.rpcTimeoutMs)
        .then((res) => (res.refused ?? 0) === 0)
        .catch(() => false),
    );
    const need = majority(peers.length + 1) - 1;
    const [ours, quorum] = await Promise.all([this.durable(), awaitQuorum(acks, need)]);
    return { stored: ours && quorum, owner };
  }

  /** Whether every change so far is durable (always, without persistence); failures are logged. */
  private async durable(): Promise<boolean> {
    if (this.deps.persist === undefined) return true;
    try {
      await this.deps.persist.durable();
      return true;
    } catch (err) {
      this.deps.log.error({ reason: (err as Error).message }, "could not persist records");
      return false;
    }
  }

  /**
   * Records read back from persistence at start: stored as they were (deadlines
   * and versions kept), not written back. Returns how many were kept; the rest
   * (expired meanwhile, over the quota) are deleted from persistence too.
   */
  restore(entries: Iterable<{ key: Buffer; rec: WireRecord }>): number {
    const now = this.deps.clock.now();
    let kept = 0;
    this.restoring = true;
    try {
      for (const { key, rec } of entries) {
        // Bounded as a peer's record would be: a clock set back since does not revive far-future versions.
        const ok = this.rules.bounded(rec, now);
        if (ok !== undefined && this.storeOne(keyId(key), ok, keyPosition(key)) === "stored") {
          kept++;
          // Clamped now (a lower max_store_duration since): the file keeps the clamped
          // deadline, or every restart would clamp again from its own now, extending the TTL.
          if (ok !== rec) this.deps.persist?.put(key, ok);
        } else this.deps.persist?.delete(key);
      }
    } finally {
      this.restoring = false;
    }
    return kept;
  }

  /** StoreReplicas from a peer: what the rules accept is stored, the rest refused and counted. */
  async acceptReplicas(
    entries: readonly WireEntry[],
    from: PeerCaller,
  ): Promise<RpcRes<"storeReplicas">> {
    const screened = await this.rules.screen(entries, peerAt(from.addr));
    judge(this.deps, from, screened, "storeReplicas");
    const stored = this.storeBatch(screened.accepted);
    // A replica acknowledges only what it could keep: its copies must be durable first.
    if (!(await this.durable())) throw new Error("could not persist the records");
    const refused = entries.length - screened.accepted.length;
    return refused === 0 ? { stored } : { stored, refused };
  }

  /** Anti-entropy `give` from replica `from`, asked for (lo, hi]: returns how many were new. */
  async acceptGive(entries: readonly WireEntry[], from: Peer, lo: Id, hi: Id): Promise<number> {
    const screened = await this.rules.screen(entries, from, { lo, hi });
    const caller = { addr: from.addr, ip: hostOf(from.addr) ?? from.addr };
    judge(this.deps, caller, screened, "syncBuckets give");
    this.deps.observer?.repair(
      "anti-entropy",
      "received",
      screened.accepted.length,
      screened.accepted.reduce((n, e) => n + e.rec.value.length, 0),
    );
    return this.storeBatch(screened.accepted);
  }

  /** Stores records (ours, or accepted by the rules), bounded again; returns how many were new. */
  storeBatch(entries: readonly WireEntry[]): number {
    const now = this.deps.clock.now();
    let stored = 0;
    for (const e of entries) {
      const rec = this.rules.bounded(e.rec, now);
      if (rec === undefined) continue;
      if (this.storeOne(keyId(e.key), rec, keyPosition(e.key)) === "stored") stored++;
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

  /** Stores one record already bounded by the rules (record-rules.ts). */
  private storeOne(id: KeyId, rec: WireRecord, pos: Id): PutOutcome {
    const now = this.deps.clock.now();
    this.versions.observe(rec.version);
    const key = keyBytes(id);
    const outcome = this.store.put(
      id,
      PackedRecord.pack({
        value: rec.value,
        version: rec.version,
        deadline: rec.deadline,
        replication: rec.replication,
        pos,
        digest: recordDigest(key, rec.version, rec.value),
      }),
      now,
    );
    if (outcome === "stored") {
      this.gen++;
      if (!this.restoring) this.deps.persist?.put(key, rec);
      this.expirer.touch();
    } else if (outcome === "over-quota") this.warnQuota(now);
    return outcome;
  }

  /** Join: push `newcomer` every record near it that is no longer ours (transfer.ts). */
  splitTo(newcomer: Peer): Promise<number> {
    return splitTo(this.transfer, newcomer);
  }

  /** Leave: hand every record to the first successor that takes it (transfer.ts). */
  handOverAll(): Promise<number> {
    return handOverAll(this.transfer);
  }

  private get transfer(): TransferDeps {
    const { table, log, lookup } = this.deps;
    return {
      data: this,
      rules: this.rules,
      table,
      log,
      ...(lookup === undefined ? {} : { lookup }),
    };
  }

  /**
   * Sends records in batches bounded in count and bytes; throws if a batch
   * fails. Returns how many entries the peer refused (record-rules.ts).
   */
  async push(
    peer: Peer,
    records: readonly [KeyId, ChordRecord][],
    kind: RepairKind,
  ): Promise<number> {
    let batch: WireEntry[] = [];
    let bytes = 0;
    let refused = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const entries = batch;
      const sent = entries.reduce((n, e) => n + e.rec.value.length, 0);
      batch = [];
      bytes = 0;
      const res = await this.deps.call(
        peer,
        "storeReplicas",
        { entries },
        this.opts.transferTimeoutMs,
      );
      refused += res.refused ?? 0;
      this.deps.observer?.repair(kind, "sent", entries.length, sent);
    };
    for (const [id, rec] of records) {
      if (batch.length >= PEER_MAX_BATCH_ENTRIES || bytes + rec.valueLength > BATCH_BYTES)
        await flush();
      batch.push({ key: keyBytes(id), rec: toWire(rec) });
      bytes += rec.valueLength + 64;
    }
    await flush();
    return refused;
  }

  /**
   * Hands records to `owner` one by one as InsertValue, as an entry node
   * would: for a holder too far from their range to push them (handoff.ts).
   * Returns those the owner reported stored; stops at the first call that
   * fails (the owner is unreachable: the rest would wait out the same timeout).
   */
  async insertAt(
    owner: Peer,
    records: readonly [KeyId, ChordRecord][],
  ): Promise<[KeyId, ChordRecord][]> {
    const took: [KeyId, ChordRecord][] = [];
    for (const [id, rec] of records) {
      const body = { key: keyBytes(id), rec: toWire(rec), strict: true };
      const res = await this.deps
        .call(owner, "insertValue", body, this.opts.rpcTimeoutMs)
        .catch(() => undefined);
      if (res === undefined) break;
      if (res.stored) took.push([id, rec]);
    }
    return took;
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
