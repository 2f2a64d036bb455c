// GetNode, and lookups that tolerate liars. Policy:
// - GetNode stays recursive along fingers (step()): a node that owns `pos`
//   answers itself, one whose successor owns it answers the successor, any
//   other forwards to the known peer closest before `pos`, routing around dead
//   hops (at most 8 tried). Hops relay answers unchecked: checking is the job
//   of the node that started the lookup, which alone can pick another path.
// - The node that starts a lookup (lookup()) accepts an answer O only when
//   (1) O does not lie between this node and `pos` (such a node cannot own it);
//   (2) O's own view (one GetNeighbours) puts `pos` in (pred(O), O];
//   (3) no node of our routing table (or we) lies alive inside O's claimed
//       range (pred(O), O): the nearest such node on each side of `pos` is
//       asked for its neighbours, and one that answers proves the claim wrong;
//       one that does not is forgotten as dead. (Only the table: the location
//       cache also holds addresses that other nodes merely named, which an
//       attacker could place inside honest ranges to refute their owners.)
//   An honest answer on a settled ring costs exactly the one GetNeighbours of (2).
// - A wrong answer starts a short walk (at most 2 GetNeighbours) from the
//   checked node nearest `pos`, forward along successor lists or back along
//   predecessors: it sets right the answers of honest nodes with a stale
//   pointer and of liars naming a node near the owner. Then another GetNode
//   path, through a first hop not used before and not caught lying (S/Kademlia's
//   disjoint paths, as far as recursive routing lets the origin choose them):
//   at most 3 paths, then a last walk (at most 8 steps per lookup in all). A
//   node reached by walking is accepted by (1), (2) and (3) with [pos, node)
//   for the range (the neighbour that led there vouched for the rest).
// - An owner without a predecessor (its own died moments ago) can neither be
//   confirmed nor refuted: its answer is kept and returned when no other
//   answer could be verified, as GetNode returned it before checks existed.
//   Otherwise a lookup with no verified answer fails.
// - Whom a wrong answer is pinned on, and when it is reported: lookup-blame.ts.

import type { Logger } from "../log.js";
import { type Clock, PeerCallError, type PeerGuard } from "../ports.js";
import type { RingDirectory } from "../ring/directory.js";
import { distance, type Id, shortId } from "../ring/id.js";
import { between, betweenLeftIncl, betweenRightIncl } from "../ring/interval.js";
import { type Peer, peerAt, type RoutingTable } from "../ring/routing-table.js";
import type { Caller } from "./data-plane.js";
import type { Lookup } from "./entry.js";
import { Blame, type Claim, type View } from "./lookup-blame.js";
import type { ChordOptions } from "./options.js";

const HOP_LIMIT = "hop limit reached";
/** Next hops one GetNode step tries before giving up. */
const MAX_HOP_ATTEMPTS = 8;
/** GetNode paths one lookup tries, each through a first hop not used before. */
const MAX_PATHS = 3;
/** GetNeighbours steps a lookup walks in all after wrong answers. */
const MAX_WALK_STEPS = 8;
/** Steps walked after each wrong answer, before the next path. */
const SHORT_WALK = 2;
/** Calls to known nodes inside claimed ranges, per lookup. */
const MAX_RANGE_CHECKS = 4;
export interface LookupDeps {
  clock: Clock;
  log: Logger;
  table: RoutingTable;
  directory: RingDirectory;
  call: Caller;
  guard?: PeerGuard;
}

export interface LookupStats {
  lookups: number;
  lookupHops: number;
  /** Lookups our own table answered (no call). */
  local: number;
  /** GetNeighbours calls made to check answers (owners, nodes inside claimed ranges, walks). */
  checks: number;
  /** GetNode paths after the first. */
  extraPaths: number;
  /** Answers found wrong. */
  wrongAnswers: number;
  /** Lookups that ended without a verified answer (failed, or an unconfirmable owner). */
  unverified: number;
  /** Peers reported for wrong answers. */
  reports: number;
}

type Verdict = Lookup | "wrong" | "unknown";

/** The state of one lookup: what was asked and learned. */
class Attempt {
  /** Views fetched; null: the node did not answer. */
  readonly views = new Map<Id, View | null>();
  readonly claims: Claim[] = [];
  readonly firstHops = new Set<Id>();
  /** Nodes shown to answer wrongly: not used again in this lookup. */
  readonly suspects = new Set<Id>();
  /** Nodes a walk already moved on from. */
  readonly expanded = new Set<Id>();
  walkSteps = 0;
  rangeChecks = 0;
  hops = 0;
  fallback: Lookup | undefined;
  firstAnswer: Lookup | undefined;

  constructor(readonly pos: Id) {}
}

interface Reply extends Lookup {
  /** The first hop that answered; undefined when our own table answered. */
  via: Peer | undefined;
}

export class Lookups {
  readonly stats: LookupStats = {
    lookups: 0,
    lookupHops: 0,
    local: 0,
    checks: 0,
    extraPaths: 0,
    wrongAnswers: 0,
    unverified: 0,
    reports: 0,
  };
  private readonly blame: Blame;

  constructor(
    private readonly deps: LookupDeps,
    private readonly opts: ChordOptions,
  ) {
    this.blame = new Blame({
      clock: deps.clock,
      log: deps.log,
      self: () => deps.table.self,
      periodMs: opts.stabilizeMs,
      guard: deps.guard,
      onReport: () => this.stats.reports++,
    });
  }

  /** One GetNode step at this node, unchecked (what a hop does for others). */
  async step(pos: Id, hops: number): Promise<Lookup> {
    const { node, succs, hops: total } = await this.forward(pos, hops, new Set());
    return { node, succs, hops: total };
  }

  /** The verified owner of `pos`, with its own successor list; remembered in the location cache. */
  async lookup(pos: Id): Promise<Lookup> {
    const found = await this.find(pos);
    this.stats.lookups++;
    this.stats.lookupHops += found.hops;
    if (found.hops === 0) this.stats.local++;
    this.deps.directory.add(found.node);
    for (const s of found.succs) this.deps.directory.add(s);
    return found;
  }

  private async find(pos: Id): Promise<Lookup> {
    const a = new Attempt(pos);
    for (let path = 0; path < MAX_PATHS; path++) {
      let reply: Reply;
      try {
        reply = await this.forward(pos, 0, a.firstHops, a.suspects);
      } catch (err) {
        if (path === 0) throw err;
        break; // no first hop left
      }
      if (path > 0) this.stats.extraPaths++;
      if (reply.via === undefined) return { node: reply.node, succs: reply.succs, hops: 0 };
      const found = await this.judge(a, reply);
      if (found !== undefined) return this.settle(a, found);
      const walked = await this.walk(a, SHORT_WALK);
      if (walked !== undefined) return this.settle(a, walked);
    }
    const walked = await this.walk(a, MAX_WALK_STEPS);
    if (walked !== undefined) return this.settle(a, walked);
    this.stats.unverified++;
    if (a.fallback !== undefined) return a.fallback;
    if (a.firstAnswer !== undefined) return a.firstAnswer;
    throw new Error(`no verified owner of ${shortId(pos)}`);
  }

  /**
   * GetNode from here: answered by our own table, or forwarded to the known peer
   * closest before `pos` that is not in `tried` (each one tried is added) nor in
   * `avoid`. A dead hop is routed around (call() drops it from the table), and
   * the rules are applied again to the updated table.
   */
  private async forward(
    pos: Id,
    hops: number,
    tried: Set<Id>,
    avoid: ReadonlySet<Id> = tried,
  ): Promise<Reply> {
    const t = this.deps.table;
    for (let attempt = 0; attempt < MAX_HOP_ATTEMPTS; attempt++) {
      if (t.owns(pos)) return { node: t.self, succs: t.successors, hops, via: undefined };
      if (t.successorOwns(pos))
        return { node: t.successor(), succs: t.successors.slice(1), hops, via: undefined };
      if (hops >= this.opts.maxHops) throw new Error(`${HOP_LIMIT} resolving ${shortId(pos)}`);
      const next = t.closestPreceding(pos).find((p) => !tried.has(p.id) && !avoid.has(p.id));
      if (next === undefined) break;
      tried.add(next.id);
      try {
        const res = await this.deps.call(
          next,
          "getNode",
          { pos: Buffer.from(pos, "hex"), hops: hops + 1 },
          this.opts.lookupTimeoutMs,
        );
        return { node: peerAt(res.node), succs: res.succs.map(peerAt), hops: res.hops, via: next };
      } catch (err) {
        // A dead hop is already dropped from the table (call()); a hop that answered
        // with an error (joining, hop limit, no route) is passed over for this lookup.
        if (!(err instanceof PeerCallError)) throw err;
        // Past the hop limit further down, another next hop would only fan out (each hop
        // trying its own alternatives): the limit is passed back at once.
        if (err.code === "remote" && err.message.startsWith(HOP_LIMIT)) throw err;
        if (err.code !== "remote") t.removePeer(next.id); // in case call() kept it
      }
    }
    throw new Error(`no live route towards ${shortId(pos)}`);
  }

  /** Checks a path's answer; returns it, verified, or records why not. */
  private async judge(a: Attempt, r: Reply): Promise<Lookup | undefined> {
    const claim: Claim = {
      via: r.via!,
      node: r.node,
      direct: r.hops === 1,
      confirmed: false,
      wrong: false,
    };
    a.claims.push(claim);
    a.hops = Math.max(a.hops, r.hops);
    // When no path can be verified (ranges in flux: a claimed owner still names a dead
    // predecessor), the first answer is used rather than failing; it is counted as unverified.
    a.firstAnswer ??= { node: r.node, succs: r.succs, hops: r.hops };
    const verdict = await this.check(a, r.node, r.hops, "range", claim);
    if (typeof verdict === "object") return verdict;
    if (verdict === "wrong") {
      claim.wrong = true;
      this.stats.wrongAnswers++;
      // A liar's view leads nowhere: neither hop nor walk starts from it again here.
      if (claim.direct && !claim.confirmed) a.suspects.add(claim.via.id);
      if (claim.confirmed) a.suspects.add(claim.node.id);
    }
    return undefined;
  }

  /**
   * Whether `x` owns the lookup's position by rules (1)-(3) of the policy;
   * `range`: the interval (3) searches, the claimed range or just [pos, x).
   */
  private async check(
    a: Attempt,
    x: Peer,
    hops: number,
    range: "range" | "key",
    claim?: Claim,
  ): Promise<Verdict> {
    const { pos } = a;
    const self = this.deps.table.self;
    if (x.id !== self.id && between(self.id, x.id, pos)) return "wrong";
    const v = await this.viewOf(a, x);
    if (v === undefined) return "unknown";
    if (v.pred === undefined) {
      if (claim !== undefined) a.fallback ??= { node: x, succs: v.succs, hops };
      return "unknown";
    }
    if (!betweenRightIncl(v.pred.id, pos, x.id)) return "wrong";
    if (claim !== undefined) claim.confirmed = true;
    const lo = range === "range" ? v.pred.id : undefined;
    if (await this.knownAliveInside(a, lo, x)) return "wrong";
    return { node: x, succs: v.succs, hops };
  }

  /**
   * Whether a node of our table, alive, lies in [pos, x) or, with `lo`, in (lo, x):
   * the nearest one on each side of the position is asked (dead ones are
   * forgotten by call(), and the next nearest asked, within MAX_RANGE_CHECKS).
   */
  private async knownAliveInside(a: Attempt, lo: Id | undefined, x: Peer): Promise<boolean> {
    const { pos } = a;
    const inside = (p: Peer) =>
      p.id !== x.id &&
      (betweenLeftIncl(pos, p.id, x.id) || (lo !== undefined && between(lo, p.id, pos)));
    while (a.rangeChecks < MAX_RANGE_CHECKS) {
      const k = this.nearestKnown(pos, inside, a, false);
      if (k === undefined) return false;
      if (k.id !== this.deps.table.self.id && !a.views.has(k.id)) a.rangeChecks++;
      if ((await this.viewOf(a, k)) !== undefined) return true;
    }
    return false;
  }

  /**
   * The node nearest `pos` (either side) of our table, or also of the location
   * cache, that satisfies `ok` and has not failed in this lookup.
   */
  private nearestKnown(
    pos: Id,
    ok: (p: Peer) => boolean,
    a: Attempt,
    cached: boolean,
  ): Peer | undefined {
    const { table, directory } = this.deps;
    let best: Peer | undefined;
    let bestNearness = 0n;
    // A peer the table holds twice (successor and finger) is looked at twice: harmless.
    const consider = (p: Peer | undefined) => {
      if (p === undefined || !ok(p) || a.views.get(p.id) === null) return;
      const n = nearness(p.id, pos);
      if (best === undefined || n < bestNearness) {
        best = p;
        bestNearness = n;
      }
    };
    consider(table.self);
    table.forEachEntry(consider);
    if (cached) {
      consider(directory.successorOf(pos));
      consider(directory.predecessorOf(pos));
    }
    return best;
  }

  /** A node's view: our own table for ourselves, else one GetNeighbours (cached per lookup). */
  private async viewOf(a: Attempt, p: Peer): Promise<View | undefined> {
    const t = this.deps.table;
    if (p.id === t.self.id) return { node: p, pred: t.predecessor, succs: t.successors };
    const known = a.views.get(p.id);
    if (known !== undefined) return known ?? undefined;
    this.stats.checks++;
    const nb = await this.deps
      .call(p, "getNeighbours", {}, this.opts.rpcTimeoutMs)
      .catch(() => undefined);
    const view =
      nb === undefined
        ? null
        : {
            node: p,
            pred: nb.pred === null ? undefined : peerAt(nb.pred),
            succs: nb.succs.map(peerAt),
          };
    a.views.set(p.id, view);
    return view ?? undefined;
  }

  /**
   * Walks towards the position from the checked node nearest it (else from the
   * known node nearest it): forward along successor lists while the position
   * lies ahead, else back along predecessors, checking each node reached; from a
   * dead end it starts again at the next nearest. A suspect is checked but not
   * walked on from. At most `budget` GetNeighbours now, MAX_WALK_STEPS in all.
   */
  private async walk(a: Attempt, budget: number): Promise<Lookup | undefined> {
    const { pos } = a;
    let steps = 0;
    const spend = () => {
      if (steps >= budget || a.walkSteps >= MAX_WALK_STEPS) return false;
      steps++;
      a.walkSteps++;
      return true;
    };
    let at: View | undefined;
    for (;;) {
      if (at === undefined) at = this.walkStart(a);
      if (at === undefined) {
        const fresh = (p: Peer) => !a.views.has(p.id) && !a.expanded.has(p.id);
        const k = this.nearestKnown(pos, (p) => fresh(p) && !a.suspects.has(p.id), a, true);
        if (k === undefined || !spend()) return undefined;
        at = await this.viewOf(a, k);
        if (k.id === this.deps.table.self.id) a.expanded.add(k.id); // our own view is not cached
        continue;
      }
      const verdict = await this.check(a, at.node, a.hops + steps, "key");
      if (typeof verdict === "object") return verdict;
      a.expanded.add(at.node.id);
      const next = a.suspects.has(at.node.id) ? undefined : towards(at, pos);
      at = undefined;
      if (next === undefined || a.expanded.has(next.id)) continue;
      const known = a.views.get(next.id);
      if (known === null) continue;
      if (known !== undefined) {
        at = known;
        continue;
      }
      if (!spend()) return undefined;
      at = await this.viewOf(a, next);
    }
  }

  /** The fetched view nearest the position that the walk has not moved on from yet. */
  private walkStart(a: Attempt): View | undefined {
    let best: View | undefined;
    for (const v of a.views.values()) {
      if (v === null || a.expanded.has(v.node.id) || a.suspects.has(v.node.id)) continue;
      if (best === undefined || nearness(v.node.id, a.pos) < nearness(best.node.id, a.pos))
        best = v;
    }
    return best;
  }

  /** A verified answer: report the answers it proves wrong (lookup-blame.ts). */
  private settle(a: Attempt, found: Lookup): Lookup {
    this.blame.settle(a.pos, a.claims, a.views, found);
    return found;
  }
}

/** Ring distance to `pos` in either direction. */
function nearness(id: Id, pos: Id): bigint {
  const ahead = distance(id, pos);
  // (bigints: Math.min does not take them)
  return ahead <= 1n << 255n ? ahead : distance(pos, id);
}

/** The next node towards `pos` by a view: along its successors if pos lies ahead, else its predecessor. */
function towards(v: View, pos: Id): Peer | undefined {
  const x = v.node.id;
  if (distance(x, pos) < distance(pos, x)) {
    let prev = x;
    for (const s of v.succs) {
      if (betweenRightIncl(prev, pos, s.id)) return s;
      prev = s.id;
    }
    return v.succs[v.succs.length - 1];
  }
  return v.pred;
}
