// Joining a ring. Policy: GetNode(own id) through a bootstrapper → s; walk back
// along predecessors while pred(s) lies between us and s (up to 64 steps);
// adopt s and its list, and its old predecessor p; SplitNode to s (which adopts
// us as predecessor and pushes our records; a failed split is not fatal, as
// anti-entropy brings the range and the node is not fresh until it has);
// newSuccessor to p. Bootstrappers are retried with exponential back-off
// (bootstrapRetryInitialMs doubling to bootstrapRetryMaxMs); ring members that
// contact the joiner meanwhile (a node restarted at its old address is still in
// their tables) are tried too, and one newly heard ends the wait early.

import type { Logger } from "../log.js";
import type { Clock, PeerTransport } from "../ports.js";
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

export interface JoinerDeps {
  transport: PeerTransport;
  clock: Clock;
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

  private async joinVia(bootstrapper: string): Promise<void> {
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
    table.setSuccessors(this.deps.gate.filter(list));
    if (pred !== null && pred !== self.addr) table.setPredecessor(peerAt(pred));
    // The successor hands us part of its range only once we solved its puzzle.
    await this.deps.admission.obtain(succ);
    const split = await transport
      .call(succ.addr, "splitNode", {}, this.opts.transferTimeoutMs)
      .catch((err: Error) => {
        log.warn({ successor: succ.addr, reason: err.message }, "split failed");
        return { sent: 0 };
      });
    const newPred = table.predecessor;
    if (newPred !== undefined) {
      // Link in at once rather than at the predecessor's next stabilize.
      await call(newPred, "newSuccessor", {}, this.opts.rpcTimeoutMs).catch(() => undefined);
    }
    log.info({ via: bootstrapper, successor: succ.addr, records: split.sent }, "joined the ring");
  }
}
