// Accepting records from peers: the rules every record passes when it enters
// this node from a peer, entry by entry (docs/design.md, "Accepting records
// from peers"). A refused entry is dropped, not the batch it came in.
// - Version: at most maxVersionAt(now) = (now + MAX_VERSION_SKEW_MS) × 1000,
//   the receiver's clock plus the stated skew (60 s) as an HLC version
//   (store/version.ts). A record past it is refused, neither stored nor
//   observed by the version clock: no far-future version takes over
//   newest-wins. The sender is reported (impossibleClaim).
// - Deadline: clamped to now + max_store_duration (receipt + the maximum TTL);
//   replication: clamped to [1, r]. Every path: insertValue, storeReplicas
//   (replication, anti-entropy push, split, leave handover, stranded handoff),
//   syncBuckets `give` replies, and the local ones.
// - Position (storeReplicas and `give`; insertValue instead stores only at the
//   fresh owner of the key by a confirmed predecessor, from any sender, as
//   any member may be a client's entry node). Known nodes: this node, its
//   routing table (predecessor, successors, fingers) and its location cache.
//   rank(x, pos) = the number of known nodes in [pos, x) clockwise: 0 for the
//   key's owner, i for its i-th successor, when the view is complete; nodes
//   the view misses make ranks smaller, known dead ones larger. The window
//   W = r + ceil(r / 2): the r nodes a record can live on, plus a margin for
//   joins not yet seen and for dead nodes still known. A record at pos is
//   accepted only if
//   (a) this node serves pos: rank(self, pos) < W, and
//   (b) the sender is in a position to send it: a member of the ring (known,
//       or checked, see below) with rank(sender, pos) < W.
//   Every honest sender is among the key's holders or next to them: the
//   owner to its replicas (writes, anti-entropy), a replica to the owner
//   (`give`), the successor to its new predecessor (split), a leaving node to
//   its successor, and a holder pushed out of the window by joins handing a
//   stranded record back. A `give` must also lie in the range asked for.
//   Senders are stricter with themselves: they push a record directly only
//   where their own view ranks sender and receiver below r (near()); else
//   (a read repair from an entry node far from the key, a stranded record
//   far away) it goes through the owner as InsertValue.
// - A sender this node never heard of (a replica need not know its owner's
//   predecessors; a predecessor lost to a timeout may still hand over its
//   range) is checked once: it is a member when GetNode(its ID) names it or
//   lists it among the owner's successors, when the node GetNode names (its
//   successor, if it joined a moment ago) names it as a neighbour, or when a
//   node we know that it names as predecessor or successor names it back. It
//   is no member only when the ring leaves no room for it: the owner O of its
//   ID has a predecessor X that names O as successor, and its ID lies in
//   (X, O] (or O is this node, with a confirmed predecessor). Anything else
//   is no verdict (views in flux, as while a ring forms): refused unreported.
//   At most VERIFY_IN_FLIGHT checks run at once, each within half an RPC
//   timeout. A member found, and any sender records were taken from, stays
//   known for VERIFIED_MS; a sender found to be no member is refused without
//   another check for VERIFY_COOLDOWN_MS. Entries whose sender cannot be
//   checked now (no slot free, no answer in time) are refused, and the check
//   is tried again after an RPC timeout.
// - Reports, at most one per batch, only where no honest node is to blame:
//   impossibleClaim if a version lay past the bound; else wrongAnswer if a
//   give lay outside the range asked for, or the ring leaves no room for the
//   sender. Keys this node does not serve, known senders outside the window
//   and senders without a verdict are refused without a report: during churn
//   and partitions two honest nodes' views of the ring differ.

import type { Logger } from "../log.js";
import type { Clock, Offence, PeerCaller } from "../ports.js";
import type { RingDirectory } from "../ring/directory.js";
import { type Id, keyPosition } from "../ring/id.js";
import { between, betweenRightIncl } from "../ring/interval.js";
import { type Peer, peerAt, type RoutingTable } from "../ring/routing-table.js";
import type { WireEntry, WireRecord } from "../wire/peer.js";
import type { ChordOptions } from "./options.js";

/** How far ahead of the receiver's clock a version may be (the stated clock skew). */
export const MAX_VERSION_SKEW_MS = 60_000;
const VERIFY_IN_FLIGHT = 8;
const VERIFIED_MS = 10 * 60_000;
const VERIFY_COOLDOWN_MS = 10_000;
const MAX_REMEMBERED = 4096;

/** The largest version accepted at `now`: the clock plus the skew, as an HLC version. */
export const maxVersionAt = (now: number): number => (now + MAX_VERSION_SKEW_MS) * 1000;

export type RecordLimits = Pick<ChordOptions, "maxStoreSeconds" | "successorListLength">;

/**
 * `rec` as this node may hold it at `now`: deadline clamped to now + the maximum TTL,
 * replication to [1, r]; undefined when its version lies past the bound.
 */
export function bounded(
  rec: WireRecord,
  now: number,
  limits: RecordLimits,
): WireRecord | undefined {
  if (!(rec.version <= maxVersionAt(now))) return undefined;
  const deadline = Math.min(rec.deadline, now + limits.maxStoreSeconds * 1000);
  const replication = Math.min(Math.max(rec.replication, 1), limits.successorListLength);
  if (deadline === rec.deadline && replication === rec.replication) return rec;
  return { ...rec, deadline, replication };
}

/** The window W: ranks below it are in position. */
export const windowOf = (r: number): number => r + Math.ceil(r / 2);

export interface RulesDeps {
  clock: Clock;
  table: RoutingTable;
  directory: RingDirectory;
  /**
   * Whether the ring knows `p` as a member (see above); undefined or a
   * rejection when it cannot tell. Absent: senders never heard of are refused.
   */
  isMember?: (p: Peer) => Promise<boolean | undefined>;
}

/** Entries refused, counted by reason. */
export interface Refusals {
  /** Versions past the clock plus the skew. */
  future: number;
  /** A give outside the range asked for. */
  outside: number;
  /** Sent by a node that is no member of the ring. */
  stranger: number;
  /** Keys this node does not serve. */
  notServed: number;
  /** Keys a known sender is not in a position to send (outside the window). */
  misplaced: number;
  /** Refused because the sender could not be checked now. */
  unchecked: number;
}

export const REFUSAL_REASONS = [
  "future",
  "outside",
  "stranger",
  "notServed",
  "misplaced",
  "unchecked",
] as const satisfies readonly (keyof Refusals)[];

export const noRefusals = (): Refusals => ({
  future: 0,
  outside: 0,
  stranger: 0,
  notServed: 0,
  misplaced: 0,
  unchecked: 0,
});

/** One batch after the rules: what may be stored, and what was refused why. */
export interface Screened extends Refusals {
  accepted: WireEntry[];
}

type Standing = "known" | "stranger" | "unchecked";

export class RecordRules {
  readonly window: number;
  private readonly verified = new Map<string, number>();
  private readonly failed = new Map<string, { until: number; answered: boolean }>();
  private readonly checking = new Map<string, Promise<Standing>>();
  /** Entries refused so far, by reason, and senders checked. */
  readonly stats = { ...noRefusals(), checks: 0 };

  /** The rules of a node: senders checked through its lookups and GetNeighbours calls. */
  static over(
    deps: Omit<RulesDeps, "isMember"> &
      Pick<RingAccess, "neighbours" | "owns"> & { lookup?: RingAccess["lookup"] },
    opts: RecordLimits & Pick<ChordOptions, "rpcTimeoutMs">,
  ): RecordRules {
    const { lookup, neighbours, owns } = deps;
    const base = { clock: deps.clock, table: deps.table, directory: deps.directory };
    if (lookup === undefined) return new RecordRules(base, opts);
    const self = deps.table.self;
    const rules: RecordRules = new RecordRules(
      {
        ...base,
        isMember: (p) =>
          ringKnows(p, { self, lookup, neighbours, owns, known: (q) => rules.knows(q) }),
      },
      opts,
    );
    return rules;
  }

  constructor(
    private readonly deps: RulesDeps,
    private readonly opts: RecordLimits & Pick<ChordOptions, "rpcTimeoutMs">,
  ) {
    this.window = windowOf(opts.successorListLength);
  }

  bounded(rec: WireRecord, now = this.deps.clock.now()): WireRecord | undefined {
    return bounded(rec, now, this.opts);
  }

  /** A ranking function over this node's current view: rank(x, pos). */
  ranks(): (x: Id, pos: Id) => number {
    const { directory, table } = this.deps;
    const extra = [table.self, ...table.knownPeers()].filter((p) => !directory.has(p.id));
    return (x, pos) => {
      if (x === pos) return 0;
      let n = directory.countIn(pos, x);
      for (const p of extra) if (p.id === pos || between(pos, p.id, x)) n++;
      return n;
    };
  }

  /**
   * Whether this node, sending, counts `x` near `pos`: rank < r by its own view.
   * Senders push copies only between near nodes; receivers take them up to W,
   * so the margin absorbs the difference between two honest views.
   */
  near(x: Id, pos: Id, rank = this.ranks()): boolean {
    return rank(x, pos) < this.opts.successorListLength;
  }

  /**
   * Applies the rules to a batch from `sender`. `range`: a give must lie in (lo, hi].
   */
  async screen(
    entries: readonly WireEntry[],
    sender: Peer,
    range?: { lo: Id; hi: Id },
  ): Promise<Screened> {
    const out: Screened = { accepted: [], ...noRefusals() };
    const now = this.deps.clock.now();
    const rank = this.ranks();
    const self = this.deps.table.self.id;
    const candidates: { e: WireEntry; pos: Id }[] = [];
    for (const e of entries) {
      const rec = this.bounded(e.rec, now);
      const pos = keyPosition(e.key);
      if (rec === undefined) out.future++;
      else if (range !== undefined && !betweenRightIncl(range.lo, pos, range.hi)) out.outside++;
      else if (rank(self, pos) >= this.window) out.notServed++;
      else candidates.push({ e: rec === e.rec ? e : { key: e.key, rec }, pos });
    }
    if (candidates.length > 0) {
      const standing = await this.standing(sender);
      for (const { e, pos } of candidates) {
        if (standing === "unchecked") out.unchecked++;
        else if (standing === "stranger") out.stranger++;
        else if (rank(sender.id, pos) >= this.window) out.misplaced++;
        else out.accepted.push(e);
      }
      // A sender we took records from stays known a while, even once dropped from our tables
      // (a predecessor lost to a timeout may still hand over its range when it leaves).
      if (out.accepted.length > 0) remember(this.verified, sender.addr, now + VERIFIED_MS);
    }
    for (const k of REFUSAL_REASONS) this.stats[k] += out[k];
    return out;
  }

  /** Whether this node knows `p`: routing table, location cache, or a sender found or taken from lately. */
  knows(p: Peer): boolean {
    const { table, directory, clock } = this.deps;
    if (directory.has(p.id) || table.has(p.id)) return true;
    return (this.verified.get(p.addr) ?? 0) >= clock.now();
  }

  /** Whether `sender` is a node of the ring as far as this node knows or can check now. */
  private async standing(sender: Peer): Promise<Standing> {
    const now = this.deps.clock.now();
    if (this.knows(sender)) return "known";
    const failed = this.failed.get(sender.addr);
    if (failed !== undefined && failed.until >= now)
      return failed.answered ? "stranger" : "unchecked";
    const running = this.checking.get(sender.addr);
    if (running !== undefined) return running;
    const isMember = this.deps.isMember;
    if (isMember === undefined || this.checking.size >= VERIFY_IN_FLIGHT) return "unchecked";
    const check = this.verify(sender, isMember).finally(() => this.checking.delete(sender.addr));
    this.checking.set(sender.addr, check);
    return check;
  }

  private async verify(
    sender: Peer,
    isMember: NonNullable<RulesDeps["isMember"]>,
  ): Promise<Standing> {
    const { clock } = this.deps;
    this.stats.checks++;
    const found = await new Promise<boolean | undefined>((resolve) => {
      const timer = clock.setTimeout(() => resolve(undefined), this.opts.rpcTimeoutMs / 2);
      isMember(sender).then(
        (member) => {
          timer.cancel();
          resolve(member);
        },
        () => {
          timer.cancel();
          resolve(undefined);
        },
      );
    });
    const now = clock.now();
    if (found === true) {
      remember(this.verified, sender.addr, now + VERIFIED_MS);
      return "known";
    }
    // undefined: no answer in time, which is not the sender's fault.
    remember(this.failed, sender.addr, {
      until: now + (found === false ? VERIFY_COOLDOWN_MS : this.opts.rpcTimeoutMs),
      answered: found === false,
    });
    return found === false ? "stranger" : "unchecked";
  }
}

type Neighbours = { pred: string | null; succs: readonly string[] };

/** What a membership check may ask of the ring and of this node. */
export interface RingAccess {
  self: Peer;
  /** GetNode from this node. */
  lookup: (pos: Id) => Promise<{ node: Peer; succs: readonly Peer[] }>;
  neighbours: (of: Peer) => Promise<Neighbours>;
  /** Whether this node knows `q` (routing table, location cache). */
  known: (q: Peer) => boolean;
  /** Whether this node owns `pos` by a confirmed predecessor. */
  owns: (pos: Id) => boolean;
}

/**
 * Membership as the ring knows it. True when GetNode(p's ID) names p or lists
 * it among the owner's successors, or the owner O it names lists p as a
 * neighbour, or a node we know that p names as predecessor or successor names
 * p back. False only when the ring leaves no room for p: O's range (X, O]
 * holds p's ID and X names O as its successor (or O is this node, owning
 * that range by a confirmed predecessor). Otherwise undefined: the views are
 * in flux (a ring forming, a join not seen everywhere yet), so no verdict.
 */
export async function ringKnows(p: Peer, ring: RingAccess): Promise<boolean | undefined> {
  const names = (nb: Neighbours | undefined) =>
    nb !== undefined && (nb.pred === p.addr || nb.succs.includes(p.addr));
  const ask = (q: Peer) => ring.neighbours(q).catch(() => undefined);
  // p's own claim is asked alongside the lookup: the whole check must fit in half an RPC timeout.
  const claiming = ask(p);
  const found = await ring.lookup(p.id);
  const owner = found.node;
  if (owner.id === p.id || found.succs.some((s) => s.id === p.id)) return true;
  let refuted: boolean;
  if (owner.id === ring.self.id) refuted = ring.owns(p.id);
  else {
    const nb = await ask(owner);
    if (names(nb)) return true;
    const x = nb?.pred == null ? undefined : peerAt(nb.pred);
    refuted =
      x !== undefined &&
      betweenRightIncl(x.id, p.id, owner.id) &&
      (await ask(x))?.succs[0] === owner.addr;
  }
  const claimed = await claiming;
  for (const addr of [claimed?.pred, claimed?.succs[0]]) {
    if (addr == null || addr === owner.addr) continue;
    const q = peerAt(addr);
    if (q.id !== p.id && ring.known(q) && names(await ask(q))) return true;
  }
  return refuted ? false : undefined;
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_REMEMBERED) map.delete(map.keys().next().value as string);
}

export const futureText = (n: number): string =>
  `${n} record(s) with a version past the clock + ${MAX_VERSION_SKEW_MS / 1000} s`;

/** At most one report per batch: the worst rule it broke that no honest node breaks. */
export function judge(
  deps: { log: Logger; report?: (from: PeerCaller, o: Offence, detail: string) => void },
  from: PeerCaller,
  s: Screened,
  what: string,
): void {
  const report = deps.report;
  if (s.future > 0) report?.(from, "impossibleClaim", `${what}: ${futureText(s.future)}`);
  else if (s.outside > 0)
    report?.(from, "wrongAnswer", `${what}: ${s.outside} records outside the range asked for`);
  else if (s.stranger > 0)
    report?.(from, "wrongAnswer", `${what}: ${s.stranger} records from a node the ring lacks`);
  if (s.notServed + s.misplaced + s.unchecked > 0)
    deps.log.debug(
      { peer: from.addr, notServed: s.notServed, misplaced: s.misplaced, unchecked: s.unchecked },
      "records refused: not in position by this node's view",
    );
}
