// Misbehaviour scores and bans per source. Policy:
// - Sources are IP groups (ring/ip-group.ts): an IPv4 address or an IPv6 /64.
//   Loopback is not exempt here; the caller decides whom to report.
// - Each offence adds its weight (OFFENCE_WEIGHTS) to the group's score. The
//   score decays exponentially, halving every `decayHalfLifeMs` (default
//   10 min): a group can keep up (threshold / weight) · ln 2 offences per
//   half-life forever without a ban — about 3.5 malformed frames, or 35
//   timeouts, per 10 minutes at the defaults — while a burst is caught.
// - When the score reaches `threshold` (default 100) the group is banned, its
//   score resets to 0, and onBan is told. The n-th ban of a group lasts
//   firstBanMs · 2^(n-1), at most maxBanMs (defaults: 10 min, 20, 40, ...,
//   24 h). Ban counts are remembered while the group is tracked, so repeat
//   offenders are banned longer. Offences reported during a ban are ignored
//   (they are the tail of what caused it) and do not extend it.
// - Memory is bounded: at most `maxTracked` groups. Before a new group is
//   tracked in a full table, the least important 1/16 (at least one) are
//   forgotten: first groups not banned now, by least (score + threshold ·
//   past bans), then oldest report; last, current bans, soonest ending first.
//   Batches keep the cost of a flood of new sources O(log n) per report.
// Time comes only from the Clock port; no timers (expiry is checked lazily).

import type { Clock, Offence } from "../ports.js";
import { ipGroup } from "../ring/ip-group.js";

// The offences and what each means are part of the ports (ports.ts): the
// transport reports some of them.
export type { Offence };

/**
 * Score added per offence. With the default threshold of 100, in quick
 * succession: one forgery bans at once; so do three failed proofs, three
 * impossible claims, six malformed frames, eleven wrong answers (churn makes
 * honest nodes give a few), twenty-one refused requests or fifty-one timeouts.
 * (Scores decay continuously, so 100 / weight offences fall just short.)
 */
export const OFFENCE_WEIGHTS: Readonly<Record<Offence, number>> = {
  malformed: 20,
  failedProof: 40,
  impossibleClaim: 50,
  forged: 100,
  wrongAnswer: 10,
  slow: 2,
  rateLimited: 5,
};

export interface MisbehaviourOptions {
  /** Score at which a group is banned. */
  threshold: number;
  /** The score halves every this many ms. */
  decayHalfLifeMs: number;
  /** Length of a group's first ban; each later one doubles. */
  firstBanMs: number;
  /** Cap on the length of a ban. */
  maxBanMs: number;
  /** Groups tracked at most (scores, past and current bans). */
  maxTracked: number;
}

export const DEFAULT_MISBEHAVIOUR_OPTIONS: Readonly<MisbehaviourOptions> = {
  threshold: 100,
  decayHalfLifeMs: 10 * 60_000,
  firstBanMs: 10 * 60_000,
  maxBanMs: 24 * 3_600_000,
  maxTracked: 4096,
};

export interface BanInfo {
  /** The IP group banned (ipGroup of the reported address). */
  group: string;
  /** The address whose report crossed the threshold. */
  ip: string;
  /** The offence that crossed the threshold, and its detail if any. */
  offence: Offence;
  detail?: string;
  /** Score when banned (≥ threshold). */
  score: number;
  /** This group's n-th ban (1 for the first). */
  count: number;
  /** Ms since the epoch (clock time). */
  since: number;
  until: number;
}

interface Entry {
  score: number;
  /** When `score` was last brought up to date. */
  at: number;
  /** Last report, for eviction order. */
  lastReport: number;
  /** Bans so far. */
  bans: number;
  /** The current or last ban. */
  ban?: BanInfo;
}

export class Misbehaviour {
  private readonly opts: MisbehaviourOptions;
  private readonly groups = new Map<string, Entry>();

  constructor(
    opts: Partial<MisbehaviourOptions>,
    private readonly clock: Clock,
    private readonly onBan: (ban: BanInfo) => void,
  ) {
    this.opts = { ...DEFAULT_MISBEHAVIOUR_OPTIONS, ...opts };
    const o = this.opts;
    for (const key of ["threshold", "decayHalfLifeMs", "firstBanMs", "maxBanMs"] as const)
      if (!(o[key] > 0 && Number.isFinite(o[key])))
        throw new RangeError(`misbehaviour: ${key} must be positive, got ${o[key]}`);
    if (o.maxBanMs < o.firstBanMs)
      throw new RangeError("misbehaviour: maxBanMs must be at least firstBanMs");
    if (!(Number.isSafeInteger(o.maxTracked) && o.maxTracked >= 1))
      throw new RangeError(`misbehaviour: maxTracked must be a positive integer`);
  }

  /** Number of groups tracked (bounded by maxTracked). */
  get tracked(): number {
    return this.groups.size;
  }

  /** Adds `offence`'s weight to the score of `ip`'s group; bans it at the threshold. */
  report(ip: string, offence: Offence, detail?: string): void {
    const now = this.clock.now();
    const group = ipGroup(ip);
    let entry = this.groups.get(group);
    if (entry === undefined) {
      if (this.groups.size >= this.opts.maxTracked) this.evict(now);
      entry = { score: 0, at: now, lastReport: now, bans: 0 };
      this.groups.set(group, entry);
    }
    entry.lastReport = now;
    if (activeBan(entry, now)) return;
    this.decay(entry, now);
    entry.score += OFFENCE_WEIGHTS[offence];
    if (entry.score < this.opts.threshold) return;
    entry.bans++;
    const length = Math.min(
      this.opts.firstBanMs * 2 ** Math.min(entry.bans - 1, 60),
      this.opts.maxBanMs,
    );
    const ban: BanInfo = {
      group,
      ip,
      offence,
      ...(detail === undefined ? {} : { detail }),
      score: entry.score,
      count: entry.bans,
      since: now,
      until: now + length,
    };
    entry.ban = ban;
    entry.score = 0;
    this.onBan({ ...ban });
  }

  /** Whether `ip`'s group is banned now. */
  banned(ip: string): boolean {
    const entry = this.groups.get(ipGroup(ip));
    return entry !== undefined && activeBan(entry, this.clock.now());
  }

  /** The current bans, soonest ending first (for a status endpoint). */
  bans(): BanInfo[] {
    const now = this.clock.now();
    const out: BanInfo[] = [];
    for (const entry of this.groups.values())
      if (activeBan(entry, now)) out.push({ ...entry.ban! });
    return out.sort((a, b) => a.until - b.until);
  }

  /** The tracked groups with a score above zero, highest first, at most `limit` (status endpoint). */
  scores(limit = 32): { group: string; score: number }[] {
    const now = this.clock.now();
    const out: { group: string; score: number }[] = [];
    for (const [group, entry] of this.groups) {
      this.decay(entry, now);
      if (entry.score > 0) out.push({ group, score: Math.round(entry.score * 100) / 100 });
    }
    return out.sort((a, b) => b.score - a.score).slice(0, limit);
  }

  /** The current (decayed) score of `ip`'s group; 0 when untracked, and right after a ban. */
  score(ip: string): number {
    const entry = this.groups.get(ipGroup(ip));
    if (entry === undefined) return 0;
    this.decay(entry, this.clock.now());
    return entry.score;
  }

  private decay(entry: Entry, now: number): void {
    if (now <= entry.at) return;
    entry.score *= 2 ** (-(now - entry.at) / this.opts.decayHalfLifeMs);
    entry.at = now;
  }

  /** Forgets the least important 1/16 of the table (at least one group). */
  private evict(now: number): void {
    const ranked = [...this.groups].map(([group, entry]) => {
      this.decay(entry, now);
      const banned = activeBan(entry, now);
      return {
        group,
        banned,
        weight: banned ? entry.ban!.until : entry.score + this.opts.threshold * entry.bans,
        last: entry.lastReport,
      };
    });
    ranked.sort(
      (a, b) => Number(a.banned) - Number(b.banned) || a.weight - b.weight || a.last - b.last,
    );
    const drop = Math.max(1, Math.floor(this.opts.maxTracked / 16));
    for (const r of ranked.slice(0, drop)) this.groups.delete(r.group);
  }
}

const activeBan = (entry: Entry, now: number): boolean =>
  entry.ban !== undefined && now < entry.ban.until;
