// Joining a ring. Policy: GetNode(own id) through a bootstrapper → s; walk back
// along predecessors while pred(s) lies between us and s (up to 64 steps);
// adopt s and its list, and its old predecessor p (s itself when s is alone);
// SplitNode to s (which adopts us as predecessor and pushes our records);
// newSuccessor to p. A split that s refuses (we are not between its predecessor
// and it: the lookup ran on a ring in flux) restarts the join at once, up to
// SPLIT_RETRIES times with a short back-off, instead of linking in at the wrong
// place: a node linked in too far from its place makes later joins through it
// land wrong too, and stabilization walks such gaps back only 16 nodes a round.
// Any other split failure is not fatal: anti-entropy brings the range, and the
// node is not fresh until it has. Bootstrappers are retried with exponential back-off
// (bootstrapRetryInitialMs doubling to bootstrapRetryMaxMs); ring members that
// contact the joiner meanwhile (a node restarted at its old address is still in
// their tables) are tried too, and one newly heard ends the wait early.

import type { Logger } from "../log.js";
import { type Clock, PeerCallError, type PeerTransport } from "../ports.js";
import { peerAt, type RoutingTable } from "../ring/routing-table.js";
import type { Admission } from "./admission.js";
import type { Caller } from "./data-plane.js";
import type { ChordOptions } from "./options.js";
import type { PeerGate } from "./peer-gate.js";
import { delay } from "./periodic.js";
import type { Stabilizer } from "./stabilizer.js";

/** How far a joining node walks back along predecessors to its true successor. */
const MAX_JOIN_STEPS = 64;
/** A waiting joiner checks this often whether a ring member contacted it. */
const WAIT_SLICE_MS = 500;
/** Ring members remembered as extra bootstrappers. */
const MAX_HEARD = 16;
/** Quick restarts of a join whose split was refused, before the bootstrapper counts as failed. */
const SPLIT_RETRIES = 6;
/** First back-off after a refused split (doubling, jittered 0.5x-1.5x). */
const SPLIT_RETRY_MS = 20;

/** What a successor answers to a split from a node that is not between its predecessor and it. */
export const NOT_BETWEEN = "you are not between my predecessor and me";

export interface JoinerDeps {
  transport: PeerTransport;
  clock: Clock;
  random: () => number;
  log: Logger;
  table: RoutingTable;
  call: Caller;
  stabilizer: Stabilizer;
  admission: Admission;
  gate: PeerGate;
}

export class Joiner {
  private readonly heard = new Set<string>();

  constructor(
    private readonly deps: JoinerDeps,
    private readonly opts: ChordOptions,
  ) {}

  /** Joins through the bootstrappers (or members heard from) while `joining()` holds. */
  async join(bootstrappers: readonly string[], joining: () => boolean): Promise<void> {
    const { clock, log } = this.deps;
    let wait = this.opts.bootstrapRetryInitialMs;
    while (joining()) {
      const heardBefore = this.heard.size;
      for (const b of [...bootstrappers, ...this.heard]) {
        try {
          await this.joinVia(b);
          return;
        } catch (err) {
          log.warn({ bootstrapper: b, reason: (err as Error).message }, "join attempt failed");
        }
      }
      log.warn({ retryInMs: wait }, "no bootstrapper reachable; retrying");
      const until = clock.now() + wait;
      while (clock.now() < until && this.heard.size === heardBefore)
        await delay(clock, Math.min(WAIT_SLICE_MS, until - clock.now()));
      wait = Math.min(wait * 2, this.opts.bootstrapRetryMaxMs);
    }
  }

  /** A ring member named itself while we were joining: another way in. */
  heardFrom(addr: string): void {
    if (addr !== this.deps.table.self.addr && this.heard.size < MAX_HEARD) this.heard.add(addr);
  }

  /** One bootstrapper: restarts quickly while the split is refused (the ring is in flux). */
  private async joinVia(bootstrapper: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.joinOnce(bootstrapper);
        return;
      } catch (err) {
        if (!(err instanceof SplitRefused) || attempt >= SPLIT_RETRIES) throw err;
        this.deps.log.debug({ successor: err.successor, attempt }, "split refused; joining again");
        await delay(this.deps.clock, SPLIT_RETRY_MS * 2 ** attempt * (0.5 + this.deps.random()));
      }
    }
  }

  private async joinOnce(bootstrapper: string): Promise<void> {
    const { transport, table, call, log, stabilizer } = this.deps;
    const self = table.self;
    const found = await transport.call(
      bootstrapper,
      "getNode",
      { pos: Buffer.from(self.id, "hex"), hops: 0 },
      this.opts.lookupTimeoutMs,
    );
    // Our own earlier incarnation may still be listed: take whoever follows it.
    const candidates = [found.node, ...found.succs].filter((a) => a !== self.addr);
    const first = peerAt(candidates[0] ?? bootstrapper);
    const view = await call(first, "getNeighbours", {}, this.opts.rpcTimeoutMs);
    const { list, pred } = await stabilizer.closestLiveSuccessor(first, view, MAX_JOIN_STEPS);
    const succ = list[0]!;
    await this.deps.gate.verify(list);
    table.setSuccessors(this.deps.gate.filter(list));
    // A successor with no predecessor and no successor is alone: it precedes us too.
    const before = pred ?? (list.length === 1 ? succ.addr : null);
    table.setPredecessor(before !== null && before !== self.addr ? peerAt(before) : undefined);
    // The successor hands us part of its range only once we solved its puzzle.
    await this.deps.admission.obtain(succ);
    const split = await transport
      .call(succ.addr, "splitNode", {}, this.opts.transferTimeoutMs)
      .catch((err: Error) => {
        if (err instanceof PeerCallError && err.code === "remote" && err.message === NOT_BETWEEN) {
          table.setPredecessor(undefined);
          throw new SplitRefused(succ.addr);
        }
        log.warn({ successor: succ.addr, reason: err.message }, "split failed");
        return { sent: 0 };
      });
    const newPred = table.predecessor;
    if (newPred !== undefined) {
      log.info({ predecessor: newPred.addr }, "predecessor changed");
      // Link in at once rather than at the predecessor's next stabilize.
      await call(newPred, "newSuccessor", {}, this.opts.rpcTimeoutMs).catch(() => undefined);
    }
    log.info({ via: bootstrapper, successor: succ.addr, records: split.sent }, "joined the ring");
  }
}

/** The successor found refused to split: we are not between its predecessor and it. */
class SplitRefused extends Error {
  constructor(readonly successor: string) {
    super(`${successor} refused the split: the ring is in flux`);
  }
}
