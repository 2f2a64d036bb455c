// Whole-range transfers of the data plane (data-plane.ts): the split when a
// node joins (its successor pushes it the records near it that are no longer
// the successor's) and the handover when a node leaves (everything to the
// first successor that takes it; the few stranded records not near it through
// their owners). Records pass the receivers' rules (record-rules.ts): a
// sender pushes only what is near the receiver.

import type { Logger } from "../log.js";
import type { Id } from "../ring/id.js";
import { betweenRightIncl } from "../ring/interval.js";
import type { Peer, RoutingTable } from "../ring/routing-table.js";
import type { KeyId } from "../store/store.js";
import type { ChordRecord, DataPlane } from "./data-plane.js";
import type { Lookup } from "./entry.js";
import type { RecordRules } from "./record-rules.js";

/** Stranded records a leaving node writes through their owners, at most. */
const MAX_LEAVE_INSERTS = 256;

export interface TransferDeps {
  data: Pick<DataPlane, "live" | "push" | "insertAt">;
  rules: RecordRules;
  table: RoutingTable;
  log: Logger;
  /** GetNode through the ring (a leaving node's stranded records go through their owners). */
  lookup?: (pos: Id) => Promise<Lookup>;
}

/**
 * Join: push `newcomer` every record that is no longer ours, i.e. outside
 * (newcomer, self] and near it (record-rules.ts; the rest would be refused there:
 * stranded records stay here for the handoff).
 */
export async function splitTo(deps: TransferDeps, newcomer: Peer): Promise<number> {
  const self = deps.table.self.id;
  const rank = deps.rules.ranks();
  const moving = deps.data
    .live()
    .filter(
      ([, rec]) =>
        !betweenRightIncl(newcomer.id, rec.pos, self) &&
        deps.rules.near(newcomer.id, rec.pos, rank),
    );
  await deps.data.push(newcomer, moving, "split");
  return moving.length;
}

/**
 * Leave: hand every record to the first successor that takes it. Records
 * not near that successor (stranded here, not yet handed off) go
 * through their owners as InsertValue instead (at most MAX_LEAVE_INSERTS);
 * the rest are counted as left behind.
 */
export async function handOverAll(deps: TransferDeps): Promise<number> {
  const all = deps.data.live();
  if (all.length === 0) return 0;
  for (const succ of deps.table.successors) {
    const rank = deps.rules.ranks();
    const near = all.filter(([, rec]) => deps.rules.near(succ.id, rec.pos, rank));
    try {
      const refused = await deps.data.push(succ, near, "handover");
      const far = all.filter(([, rec]) => !deps.rules.near(succ.id, rec.pos, rank));
      const through = await throughOwners(deps, far.slice(0, MAX_LEAVE_INSERTS));
      const behind = far.length - through + refused;
      if (behind > 0)
        deps.log.warn(
          { peer: succ.addr, records: behind },
          "records not handed over: not near the successor, or refused",
        );
      return near.length - refused + through;
    } catch (err) {
      deps.log.warn(
        { peer: succ.addr, reason: (err as Error).message },
        "handover failed, trying the next successor",
      );
    }
  }
  throw new Error(`could not hand over ${all.length} records: no successor took them`);
}

/** Writes records through their owners (GetNode each), as InsertValue; returns how many took. */
async function throughOwners(
  deps: TransferDeps,
  records: readonly [KeyId, ChordRecord][],
): Promise<number> {
  const lookup = deps.lookup;
  if (lookup === undefined) return 0;
  let took = 0;
  for (const r of records) {
    const found = await lookup(r[1].pos).catch(() => undefined);
    if (found !== undefined) took += (await deps.data.insertAt(found.node, [r])).length;
  }
  return took;
}
