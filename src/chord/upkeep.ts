// The periodic jobs of one node and their cadences (chord/periodic.ts runs
// each: jittered, never overlapping). Policy:
// - stabilize, predecessor check, anti-entropy and finger fixing run at their
//   base periods times the node's calm factor (chord/calm.ts): fast while the
//   ring around the node changes, up to MAX_CALM times slower while it is
//   stable (anti-entropy at most AE_MAX_CALM times, so lost copies come back
//   within a minute on an idle ring). Finger fixing is a further SETTLED_FINGER_SLOWDOWN times slower
//   after the first whole pass over the fingers (fingers speed lookups up; a
//   dead one is routed around at once, and the successor list keeps lookups right).
// - A stabilize run that changed nothing calms the node; a ring change wakes
//   it, and the slowed jobs run within their base periods.
// - Lost peers are probed every checkPredecessorMs, calm or not (only while there
//   are any: a healed partition is found by these probes);
//   stranded records are looked for every strandedScanMs, and again within
//   antiEntropyMs while a scan still finds some or the ring changed during it.
// - replica-sync runs only after a ring change, until every replica synced.

import type { Logger } from "../log.js";
import type { Clock } from "../ports.js";
import type { AntiEntropy } from "./anti-entropy.js";
import { AE_MAX_CALM, Calm } from "./calm.js";
import type { DataPlane } from "./data-plane.js";
import type { Handoff } from "./handoff.js";
import type { ChordOptions } from "./options.js";
import { PeriodicJob } from "./periodic.js";
import type { Stabilizer } from "./stabilizer.js";
import type { Unifier } from "./unify.js";

/** How soon a node stabilizes after its successor said its list changed (changes in a row share one run). */
const SUCCESSOR_NEWS_MS = 50;
/** Quick stranded-record rescans after one ring change; then the scan is back to strandedScanMs. */
const RESCANS = 8;
/** Fingers are fixed this many times less often after the first whole pass. */
const SETTLED_FINGER_SLOWDOWN = 8;

export interface UpkeepParts {
  stabilizer: Stabilizer;
  ae: AntiEntropy;
  unifier: Unifier;
  handoff: Handoff;
  data: DataPlane;
}

export class Upkeep {
  readonly calm: Calm;
  readonly syncJob: PeriodicJob;
  readonly handoffJob: PeriodicJob;
  private readonly stabilizeJob: PeriodicJob;
  private readonly probeJob: PeriodicJob;
  private running = false;
  /** The jobs the calm factor slows, with their base periods. */
  private readonly paced: [PeriodicJob, () => number][];
  private readonly jobs: PeriodicJob[];
  /** Ring changes seen, so a sync that started before the latest one does not end the retries. */
  private changes = 0;
  /** When the last stabilize asked for by successor news is due. */
  private newsAt = Number.NEGATIVE_INFINITY;
  /** Stranded-record scans re-run since the last ring change (capped: RESCANS). */
  private rescans = 0;

  constructor(
    private readonly deps: { clock: Clock; random: () => number; log: Logger },
    private readonly opts: ChordOptions,
    private readonly parts: UpkeepParts,
  ) {
    const s = parts.stabilizer;
    const calm = new Calm(() => this.hurry());
    this.calm = calm;
    const job = (name: string, ms: () => number, run: () => Promise<void>) =>
      new PeriodicJob(deps, name, ms, run);
    const fingerBase = () => (s.fingerPasses > 0 ? SETTLED_FINGER_SLOWDOWN : 1) * opts.fixFingersMs;
    const stabilize = job(
      "stabilize",
      () => calm.factor * opts.stabilizeMs,
      async () => {
        const before = this.changes;
        await s.stabilize();
        if (this.changes === before) calm.quiet();
      },
    );
    const fingers = job(
      "fix-fingers",
      () => calm.factor * fingerBase(),
      () => s.fixFinger(),
    );
    const checkPred = job(
      "check-predecessor",
      () => calm.factor * opts.checkPredecessorMs,
      () => s.checkPredecessor(calm.factor * opts.checkPredecessorMs),
    );
    const ae = job(
      "anti-entropy",
      () => Math.min(calm.factor, AE_MAX_CALM) * opts.antiEntropyMs,
      () => parts.ae.tick(),
    );

    this.syncJob = job(
      "replica-sync",
      () => opts.antiEntropyMs,
      () => this.syncAll(),
    );
    this.handoffJob = job(
      "handoff",
      () => opts.strandedScanMs,
      async () => {
        const changes = this.changes;
        const before = parts.handoff.handedOff;
        await parts.handoff.scan();
        // A ring that just changed (a partition healed, nodes crashed) may leave
        // records that this scan's views did not yet place: look again soon while
        // scans still find some, or the ring changed under this one.
        if (this.changes !== changes) this.rescans = 0;
        const moved = parts.handoff.handedOff > before || this.changes !== changes;
        if (moved && this.rescans++ < RESCANS) this.handoffJob.trigger(opts.antiEntropyMs);
      },
    );
    // Not slowed by calm: a healed partition is found by these probes, on either side of
    // it, and both sides are calm by then. The job runs only while a peer is lost (an
    // idle ring's nodes would otherwise wake every second for nothing: over half of
    // their timers).
    this.probeJob = job(
      "probe-lost",
      () => opts.checkPredecessorMs,
      async () => {
        await parts.unifier.probe();
        if (parts.unifier.lostCount === 0) this.probeJob.stop();
      },
    );
    this.stabilizeJob = stabilize;
    this.paced = [
      [stabilize, () => opts.stabilizeMs],
      [fingers, fingerBase],
      [checkPred, () => opts.checkPredecessorMs],
      [ae, () => opts.antiEntropyMs],
    ];
    this.jobs = [stabilize, fingers, checkPred, ae, this.handoffJob];
  }

  start(): void {
    this.running = true;
    for (const j of this.jobs) j.start();
    this.lostNoted();
  }

  stop(): void {
    this.running = false;
    for (const j of this.jobs) j.stop();
    this.syncJob.stop();
    this.probeJob.stop();
  }

  /** A peer was noted as lost: probe the lost peers until none is left. */
  lostNoted(): void {
    if (this.running && this.parts.unifier.lostCount > 0) this.probeJob.start();
  }

  /**
   * The replica set or the owned range changed: wake, sync every replica soon
   * (changes in a row, a ring forming, share one sync; a node catching up syncs
   * at once), and look for stranded records soon.
   */
  ringChanged(): void {
    const { opts, parts } = this;
    this.changes++;
    this.rescans = 0;
    parts.handoff.changedAt = this.deps.clock.now();
    this.calm.wake();
    this.syncJob.start();
    this.syncJob.trigger(parts.data.fresh ? opts.antiEntropyMs / 4 : 0);
    this.handoffJob.trigger(opts.antiEntropyMs);
  }

  /**
   * Our successor's list changed (it told us): wake, and stabilize within
   * SUCCESSOR_NEWS_MS, so a change reaches the r nodes before it in r short
   * steps (a partition that heals changes every list; calm, each step would
   * take up to MAX_CALM stabilize periods).
   */
  successorNews(): void {
    this.calm.wake();
    // At most one run per stabilizeMs on news: a successor whose list changes on
    // every call (flapping, or hostile) cannot drive us, and the r nodes before
    // us, faster than the base cadence.
    const now = this.deps.clock.now();
    if (this.newsAt > now) return; // a run is due already, and will read the news too
    const soon = now + Math.min(SUCCESSOR_NEWS_MS, this.opts.stabilizeMs);
    this.newsAt = Math.max(soon, this.newsAt + this.opts.stabilizeMs);
    this.stabilizeJob.trigger(this.newsAt - now);
  }

  /** Syncs every replica; a node catching up is fresh again once all syncs succeeded. */
  private async syncAll(): Promise<void> {
    const seen = this.changes;
    const ok = await this.parts.ae.syncAll();
    if (ok && seen === this.changes) {
      this.syncJob.stop();
      if (!this.parts.data.fresh) this.parts.data.fresh = true;
    }
  }

  /** Woken from calm: each slowed job runs within its base period. */
  private hurry(): void {
    for (const [j, base] of this.paced) j.trigger(base());
  }
}
