// Anti-entropy: the owner of a range keeps its replicas equal to itself, in
// both directions, without waiting for a membership change. Policy:
// - Every `antiEntropyMs` (jittered) the owner syncs its range (pred, self]
//   with the next replica in turn; when the replica set or the range changes,
//   or after a pause, with all of them at once (syncAll), skipping a replica
//   already synced for the same records at its place or a farther one, for
//   our range or a larger one (until a peer fails, which may come back empty,
//   or this node was paused, which changed nothing here but everything there).
// - Successor i holds the records whose replication reaches it (c >= i + 2).
// - One sync: SyncRange carries the owner's root hash and count; an equal
//   summary ends it (two small messages: the idle cost). Otherwise the replica
//   answers its 64 bucket hashes; for each differing bucket the owner lists
//   (key, version, digest) and the replica returns what it holds newer or the
//   owner lacks, and names what it wants; the owner stores the first (what
//   chord/record-rules.ts accepts: keys of the range asked for, versions and
//   deadlines bounded) and pushes the second. Newest wins on both sides, so
//   stale copies never spread.
// - A replica remembers which ranges owners confirmed it serves (chord/handoff.ts).

import type { Logger } from "../log.js";
import type { Clock } from "../ports.js";
import type { Id } from "../ring/id.js";
import { between, betweenRightIncl } from "../ring/interval.js";
import type { Peer, RoutingTable } from "../ring/routing-table.js";
import { type KeyId, keyBytes, keyId } from "../store/store.js";
import {
  bucketOf,
  differingBuckets,
  inRange,
  type RangeSummary,
  summarize,
} from "../store/summary.js";
import { PEER_MAX_BATCH_ENTRIES, type RpcReq, type RpcRes, type WireEntry } from "../wire/peer.js";
import { type Caller, type ChordRecord, type DataPlane, toWire } from "./data-plane.js";
import type { ChordOptions } from "./options.js";

const GIVE_BYTES = 2 * 1024 * 1024;
/** Summaries are cached (per store generation) only for stores of at least this many records. */
const SUMMARY_CACHE_MIN_RECORDS = 256;

export interface AntiEntropyDeps {
  clock: Clock;
  log: Logger;
  table: RoutingTable;
  call: Caller;
  data: DataPlane;
}

/** A range an owner confirmed this node serves, for records of at least `minReplication` copies. */
export interface Confirmed {
  lo: Id;
  minReplication: number;
  at: number;
}

export interface AntiEntropyStats {
  syncs: number;
  mismatches: number;
  recordsPulled: number;
  recordsPushed: number;
}

const hex = (b: Buffer): Id => b.toString("hex");
const buf = (id: Id): Buffer => Buffer.from(id, "hex");

export class AntiEntropy {
  /** Ranges owners confirmed, by the owner's ID (the range's upper end). */
  readonly confirmed = new Map<Id, Confirmed>();
  readonly stats: AntiEntropyStats = {
    syncs: 0,
    mismatches: 0,
    recordsPulled: 0,
    recordsPushed: 0,
  };
  private next = 0;
  /** What each replica was last synced for: its place, our range's lower end, our records' generation. */
  private readonly synced = new Map<Id, { index: number; lo: Id; generation: number }>();
  private cache = new Map<string, RangeSummary>();
  private cacheGen = -1;

  constructor(
    private readonly deps: AntiEntropyDeps,
    private readonly opts: ChordOptions,
  ) {}

  /** Periodic: sync the owned range with the next replica in turn. */
  async tick(): Promise<void> {
    const targets = this.targets();
    if (targets.length === 0) return;
    this.next = (this.next + 1) % targets.length;
    await this.syncWith(targets[this.next]!, this.next);
  }

  /**
   * Syncs with every replica; true when all of them succeeded. A replica synced
   * before for the same records, at the same place or a farther one (it then
   * holds a superset of what it needs), for our range or a larger one, is
   * skipped: a join further along the list, or in our range, gives it nothing
   * to receive.
   */
  async syncAll(): Promise<boolean> {
    const { table, data } = this.deps;
    if (table.predecessor === undefined && !table.alone) return false;
    const lo = table.predecessor?.id ?? table.self.id;
    const self = table.self.id;
    const results = await Promise.all(
      this.targets().map((peer, index) => {
        const last = this.synced.get(peer.id);
        const covered =
          last !== undefined &&
          last.generation === data.generation &&
          last.index <= index &&
          (last.lo === lo || between(last.lo, lo, self));
        if (covered) return true;
        return this.syncWith(peer, index).then(
          () => true,
          (err: Error) => {
            this.deps.log.debug({ peer: peer.addr, reason: err.message }, "sync failed");
            return false;
          },
        );
      }),
    );
    return results.every(Boolean);
  }

  /** The replicas of the owned range: successors up to the largest replication needed. */
  private targets(): Peer[] {
    const { table } = this.deps;
    if (table.alone || table.predecessor === undefined) return [];
    let copies = this.opts.replication;
    for (const rec of this.owned()) if (rec.replication > copies) copies = rec.replication;
    return table.successors.slice(0, copies - 1);
  }

  private owned(): ChordRecord[] {
    const { table, data } = this.deps;
    const pred = table.predecessor;
    if (pred === undefined) return [];
    return data
      .live()
      .map(([, rec]) => rec)
      .filter((rec) => inRange(rec, pred.id, table.self.id, 1));
  }

  /** One sync; remembered (place, range, records as they were when it started) for syncAll. */
  private async syncWith(peer: Peer, index: number): Promise<void> {
    const lo = this.deps.table.predecessor?.id;
    const generation = this.deps.data.generation;
    await this.syncOnce(peer, index);
    if (lo === undefined) return;
    this.synced.set(peer.id, { index, lo, generation });
    if (this.synced.size > 4 * this.opts.successorListLength) this.synced.clear();
  }

  private async syncOnce(peer: Peer, index: number): Promise<void> {
    const { table, call, data } = this.deps;
    const pred = table.predecessor;
    if (pred === undefined) return;
    const range = { lo: buf(pred.id), hi: buf(table.self.id), minReplication: index + 2 };
    const mine = this.summary(pred.id, table.self.id, range.minReplication);
    this.stats.syncs++;
    const res = await call(
      peer,
      "syncRange",
      { ...range, root: mine.root, count: mine.count },
      this.opts.rpcTimeoutMs,
    );
    if (res.match) return;
    this.stats.mismatches++;
    const records = data
      .live()
      .filter(([, rec]) => inRange(rec, pred.id, table.self.id, range.minReplication));
    if (res.count === 0) {
      await data.push(peer, records, "anti-entropy");
      this.stats.recordsPushed += records.length;
      return;
    }
    for (const buckets of this.chunks(differingBuckets(mine.buckets, res.buckets), records)) {
      const inBuckets = records.filter(([, rec]) => buckets.has(bucketOf(rec.pos)));
      const have = inBuckets.map(([id, rec]) => ({
        key: keyBytes(id),
        version: rec.version,
        digest: rec.digest,
      }));
      const diff = await call(
        peer,
        "syncBuckets",
        { ...range, buckets: [...buckets], have },
        this.opts.transferTimeoutMs,
      );
      this.stats.recordsPulled += await data.acceptGive(diff.give, peer, pred.id, table.self.id);
      const wanted = new Set(diff.want.map((k) => keyId(k)));
      const push = inBuckets.filter(([id]) => wanted.has(id));
      await data.push(peer, push, "anti-entropy");
      this.stats.recordsPushed += push.length;
    }
  }

  /** Groups buckets so that no SyncBuckets request lists more entries than a batch holds. */
  private *chunks(
    buckets: readonly number[],
    records: readonly [KeyId, ChordRecord][],
  ): Iterable<Set<number>> {
    const perBucket = new Map<number, number>();
    for (const [, rec] of records) {
      const b = bucketOf(rec.pos);
      perBucket.set(b, (perBucket.get(b) ?? 0) + 1);
    }
    let chunk = new Set<number>();
    let size = 0;
    for (const b of buckets) {
      const n = perBucket.get(b) ?? 0;
      if (chunk.size > 0 && size + n > PEER_MAX_BATCH_ENTRIES) {
        yield chunk;
        chunk = new Set();
        size = 0;
      }
      chunk.add(b);
      size += n;
    }
    if (chunk.size > 0) yield chunk;
  }

  private summary(lo: Id, hi: Id, minReplication: number): RangeSummary {
    const { data } = this.deps;
    const records = () => data.live().map(([, rec]) => rec);
    // A small store is summed again at less cost than a cache entry's memory
    // (64 bucket sums and a 130-character key, for every range asked about).
    if (data.store.size < SUMMARY_CACHE_MIN_RECORDS) {
      return summarize(records(), lo, hi, minReplication);
    }
    if (this.cacheGen !== data.generation) {
      this.cache.clear();
      this.cacheGen = data.generation;
    }
    const key = `${lo}${hi}${minReplication}`;
    let s = this.cache.get(key);
    if (s === undefined) {
      s = summarize(records(), lo, hi, minReplication);
      if (this.cache.size > 256) this.cache.clear();
      this.cache.set(key, s);
    }
    return s;
  }

  /** Replicas synced since the last ring change or failure (status endpoint). */
  get syncedReplicas(): number {
    return this.synced.size;
  }

  /** A peer failed: it may come back empty, so every replica is synced again on the next change. */
  forgetSyncs(): void {
    this.synced.clear();
  }

  /** Records that this node replicates (lo, hi] for records of 2 or more copies (it just owned it). */
  confirm(lo: Id, hi: Id): void {
    this.confirmed.set(hi, { lo, minReplication: 2, at: this.deps.clock.now() });
  }

  /** Whether an owner confirmed within `withinMs` that this node replicates the range of `pos`. */
  serves(pos: Id, withinMs: number): boolean {
    const since = this.deps.clock.now() - withinMs;
    for (const [hi, c] of this.confirmed)
      if (c.at >= since && betweenRightIncl(c.lo, pos, hi)) return true;
    return false;
  }

  private forgetOldest(): void {
    let oldest: [Id, Confirmed] | undefined;
    for (const e of this.confirmed) if (oldest === undefined || e[1].at < oldest[1].at) oldest = e;
    if (oldest !== undefined) this.confirmed.delete(oldest[0]);
  }

  // --- what an owner asks of its replicas ---

  onSyncRange(req: RpcReq<"syncRange">): RpcRes<"syncRange"> {
    const lo = hex(req.lo);
    const hi = hex(req.hi);
    this.confirmed.set(hi, { lo, minReplication: req.minReplication, at: this.deps.clock.now() });
    if (this.confirmed.size > 4 * this.opts.successorListLength) this.forgetOldest();
    const mine = this.summary(lo, hi, req.minReplication);
    const match = mine.root === req.root && mine.count === req.count;
    return { match, count: mine.count, buckets: match ? [] : [...mine.buckets] };
  }

  onSyncBuckets(req: RpcReq<"syncBuckets">): RpcRes<"syncBuckets"> {
    const { data, clock } = this.deps;
    const now = clock.now();
    const lo = hex(req.lo);
    const hi = hex(req.hi);
    const buckets = new Set(req.buckets);
    const give: WireEntry[] = [];
    const want: Buffer[] = [];
    let bytes = 0;
    let more = false;
    const offer = (key: Buffer, rec: ChordRecord) => {
      if (give.length >= PEER_MAX_BATCH_ENTRIES || bytes + rec.valueLength > GIVE_BYTES) {
        more = true;
        return;
      }
      give.push({ key, rec: toWire(rec) });
      bytes += rec.valueLength + 64;
    };
    const listed = new Set<KeyId>();
    for (const h of req.have) {
      const id = keyId(h.key);
      listed.add(id);
      const mine = data.store.get(id, now);
      if (mine === undefined || mine.version < h.version) want.push(h.key);
      else if (mine.version > h.version) offer(h.key, mine);
      else if (mine.digest !== h.digest) {
        offer(h.key, mine);
        want.push(h.key);
      }
    }
    for (const [id, rec] of data.store.entries(now)) {
      if (listed.has(id) || !buckets.has(bucketOf(rec.pos))) continue;
      if (inRange(rec, lo, hi, req.minReplication)) offer(keyBytes(id), rec);
    }
    return { give, want, more };
  }
}
