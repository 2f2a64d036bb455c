// Whom a lookup's wrong answers are pinned on, and when they are reported
// (the misbehaviour part of lookup.ts). Policy:
// - Misbehaviour (wrongAnswer) is pinned only on a node proven wrong by a
//   verified answer: a claimed owner that confirmed a range the verified owner
//   lies in (unless the verified owner names it as its successor: a newcomer
//   not adopted yet); else a first hop that answered from its own table
//   (reply hops = 1) with a node before the key, or with a wrong owner whose
//   predecessor is not that hop (else: a successor pointer not updated yet).
//   A relayed answer cannot be pinned on the relay. Honest churn can still
//   look like this for moments (concurrent joins), so a node is reported only
//   when proven wrong again 10 to 240 stabilize periods after the first time,
//   and then at most once per 10 periods by each node.

import type { Logger } from "../log.js";
import type { Clock, PeerGuard } from "../ports.js";
import { type Id, shortId } from "../ring/id.js";
import { between, betweenLeftIncl } from "../ring/interval.js";
import { hostOf } from "../ring/ip-group.js";
import type { Peer } from "../ring/routing-table.js";
import type { Lookup } from "./entry.js";

/**
 * A peer proven wrong is reported once it is proven wrong again at least this many
 * stabilize periods later (honest churn is set right within a few) ...
 */
const STRIKE_AFTER_PERIODS = 10;
/** ... and at most this many periods after the first time, which is then forgotten. */
const STRIKE_WINDOW_PERIODS = 240;
/** Peers with a first strike remembered at most (oldest forgotten first). */
const MAX_STRIKES = 1024;

/** A node's own account of its place on the ring. */
export interface View {
  node: Peer;
  pred: Peer | undefined;
  succs: readonly Peer[];
}

/** What one GetNode path answered. */
export interface Claim {
  /** The first hop, which sent us the answer. */
  via: Peer;
  node: Peer;
  /** The first hop answered from its own table. */
  direct: boolean;
  /** The claimed owner's own view put `pos` in its range. */
  confirmed: boolean;
  wrong: boolean;
}

export interface BlameDeps {
  clock: Clock;
  log: Logger;
  self: () => Peer;
  /** Stabilize period: strikes are counted in these. */
  periodMs: number;
  guard?: PeerGuard;
  /** Called for each report (statistics). */
  onReport: () => void;
}

export class Blame {
  /** When each peer was first proven wrong, while not reported yet. */
  private readonly strikes = new Map<Id, number>();

  constructor(private readonly deps: BlameDeps) {}

  /** `found` was verified as the owner of `pos`: strike the answers it proves wrong. */
  settle(
    pos: Id,
    claims: readonly Claim[],
    views: ReadonlyMap<Id, View | null>,
    found: Lookup,
  ): void {
    const self = this.deps.self();
    const view = found.node.id === self.id ? undefined : views.get(found.node.id);
    const reported = new Set<Id>();
    for (const c of claims) {
      if (!c.wrong || c.node.id === found.node.id) continue;
      const liar = blame(pos, c, found.node, view ?? undefined);
      if (liar === undefined || liar.peer.id === self.id || reported.has(liar.peer.id)) continue;
      reported.add(liar.peer.id);
      this.strike(liar.peer, `${liar.detail} (${shortId(pos)} is ${found.node.addr}'s)`);
    }
  }

  /**
   * A peer was proven wrong: reported when it was already proven wrong between
   * STRIKE_AFTER_PERIODS and STRIKE_WINDOW_PERIODS ago (so at most once per
   * STRIKE_AFTER_PERIODS by this node), else remembered.
   */
  private strike(p: Peer, detail: string): void {
    const now = this.deps.clock.now();
    const period = this.deps.periodMs;
    const first = this.strikes.get(p.id);
    if (first !== undefined && now - first <= STRIKE_WINDOW_PERIODS * period) {
      if (now - first < STRIKE_AFTER_PERIODS * period) return;
      this.strikes.delete(p.id);
      this.report(p, detail);
      return;
    }
    this.strikes.delete(p.id);
    if (this.strikes.size >= MAX_STRIKES) this.strikes.delete(this.strikes.keys().next().value!);
    this.strikes.set(p.id, now);
    this.deps.log.debug({ peer: p.addr, detail }, "peer answered a lookup wrongly");
  }

  private report(p: Peer, detail: string): void {
    const ip = hostOf(p.addr);
    this.deps.onReport();
    if (ip !== undefined) this.deps.guard?.report(ip, "wrongAnswer", detail);
    this.deps.log.warn({ peer: p.addr, offence: "wrongAnswer", detail }, "peer misbehaved");
  }
}

/** Whom a wrong answer is pinned on, once `owner` (with its own view) was verified (see the policy). */
function blame(
  pos: Id,
  c: Claim,
  owner: Peer,
  view: View | undefined,
): { peer: Peer; detail: string } | undefined {
  if (c.confirmed) {
    const inside = betweenLeftIncl(pos, owner.id, c.node.id);
    if (!inside || view === undefined || view.succs[0]?.id === c.node.id) return undefined;
    return { peer: c.node, detail: "claims a range it does not serve" };
  }
  if (!c.direct) return undefined;
  const noProgress = between(c.via.id, c.node.id, pos) || c.node.id === c.via.id;
  if (!noProgress && (view === undefined || view.pred?.id === c.via.id)) return undefined;
  return {
    peer: c.via,
    detail: noProgress
      ? "lookup reply makes no progress"
      : "lookup reply names a node that does not own the key",
  };
}
