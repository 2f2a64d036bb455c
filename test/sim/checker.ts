// The checker for "no acknowledged write is ever lost or rolled back", pure
// over a History. Rules (times are simulated ms; a failed PUT is indeterminate:
// it never makes another write stale, but may be returned):
// - X is definitely older than A when X was acked before A was invoked.
// - stale-read / absent-read: a GET invoked at t returned a write definitely
//   older than one acked before t / returned nothing though a write was acked
//   before t. Reads overlapping [partition start, heal + HEAL_GRACE_MS] are
//   exempt (availability is chosen over consistency during a partition).
// - phantom-read: a value no PUT on that key wrote; future-read: a value whose
//   PUT was invoked after the read completed. No exemption.
// - lost-write / final-unavailable: after quiescence a read returned a write
//   definitely older than an acked one, or nothing, or failed.
// - divergence: the key's expected holders (its owner and the next
//   replication-1 live nodes) hold different copies; stray-copy: another live
//   node holds a copy that differs from theirs; under-replicated: an expected
//   holder has no copy (of a key that was acked or is held anywhere).

import type { Copy, GetOp, History, KeyReplicas, PutOp, Window } from "./history.js";

/** How long after a heal reads may still see the partition's effects. */
export const HEAL_GRACE_MS = 5000;

export const VIOLATION_KINDS = [
  "stale-read",
  "absent-read",
  "phantom-read",
  "future-read",
  "lost-write",
  "final-unavailable",
  "divergence",
  "stray-copy",
  "under-replicated",
] as const;

export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  readonly kind: ViolationKind;
  readonly key: string;
  /** The offending read's id, when a read shows it. */
  readonly op?: number;
  readonly detail: string;
}

const showPut = (w: PutOp): string =>
  `${w.value} [${w.invoke}, ${w.complete}]${w.ok ? " acked" : " failed"} via ${w.node}`;
const showGet = (r: GetOp): string => `GET #${r.id} via ${r.node} [${r.invoke}, ${r.complete}]`;

function exempt(read: GetOp, partitions: readonly Window[]): boolean {
  return partitions.some((p) => read.invoke <= p.end + HEAL_GRACE_MS && read.complete >= p.start);
}

/** The writes of one key, and what a read at time t must not go below. */
class KeyWrites {
  readonly acked: PutOp[];

  constructor(all: readonly PutOp[]) {
    this.acked = all.filter((w) => w.ok);
  }

  /** Acked writes completed before `t`, in history order. */
  ackedBefore(t: number): PutOp[] {
    return this.acked.filter((a) => a.complete < t);
  }

  /** The newest acked write completed before `t` that `x` is definitely older than, if any. */
  newerThan(x: PutOp, t: number): PutOp | undefined {
    if (!x.ok) return undefined;
    return this.ackedBefore(t).findLast((a) => x.complete < a.invoke);
  }
}

const NO_WRITES = new KeyWrites([]);

export function check(history: History): Violation[] {
  const byValue = new Map<string, PutOp>();
  const byKey = new Map<string, PutOp[]>();
  for (const op of history.ops) {
    if (op.kind !== "put") continue;
    byValue.set(op.value, op);
    byKey.set(op.key, [...(byKey.get(op.key) ?? []), op]);
  }
  const writes = new Map([...byKey].map(([key, list]) => [key, new KeyWrites(list)]));
  const keyWrites = (key: string): KeyWrites => writes.get(key) ?? NO_WRITES;
  const out: Violation[] = [];
  const flag = (kind: ViolationKind, read: GetOp, detail: string) =>
    out.push({ kind, key: read.key, op: read.id, detail: `${showGet(read)} ${detail}` });

  const judge = (read: GetOp, final: boolean) => {
    const writes = keyWrites(read.key);
    if (read.outcome === "unavailable") {
      if (final) flag("final-unavailable", read, "failed after quiescence");
      return;
    }
    let x: PutOp | undefined;
    if (read.outcome === "found") {
      x = byValue.get(read.value ?? "");
      if (x === undefined || x.key !== read.key) {
        flag("phantom-read", read, `returned ${read.value}, never written to this key`);
        return;
      }
      if (x.invoke > read.complete) {
        flag("future-read", read, `returned ${showPut(x)}, invoked after the read completed`);
        return;
      }
    }
    if (!final && exempt(read, history.partitions)) return;
    const kind: ViolationKind = final
      ? "lost-write"
      : x === undefined
        ? "absent-read"
        : "stale-read";
    if (x === undefined) {
      const acked = writes.ackedBefore(read.invoke);
      if (acked.length > 0)
        flag(
          kind,
          read,
          `found nothing; ${acked.length} writes acked before, e.g. ${showPut(acked.at(-1)!)}`,
        );
      return;
    }
    const newer = writes.newerThan(x, read.invoke);
    if (newer !== undefined)
      flag(kind, read, `returned ${showPut(x)}, older than ${showPut(newer)}`);
  };

  for (const op of history.ops) if (op.kind === "get") judge(op, false);
  for (const read of history.finalReads) judge(read, true);

  for (const replicas of history.replicas)
    out.push(...checkReplicas(replicas, keyWrites(replicas.key).acked.length > 0));
  return out;
}

const sameCopy = (a: Copy, b: Copy): boolean => a.version === b.version && a.value === b.value;

function checkReplicas({ key, expected, copies }: KeyReplicas, acked: boolean): Violation[] {
  const out: Violation[] = [];
  const shown = copies
    .map((c) => `${c.node}${expected.includes(c.node) ? "*" : ""}=${c.value}@${c.version}`)
    .join(" ");
  const held = copies.filter((c) => expected.includes(c.node));
  const stray = copies.filter((c) => !expected.includes(c.node));
  const reference = held[0] ?? stray[0];
  if (held.some((c) => !sameCopy(c, held[0]!)))
    out.push({ kind: "divergence", key, detail: `expected holders (*) differ: ${shown}` });
  else if (reference !== undefined && stray.some((c) => !sameCopy(c, reference)))
    out.push({
      kind: "stray-copy",
      key,
      detail: `a copy outside the expected (*) differs: ${shown}`,
    });
  if (copies.length === 0 && !acked) return out;
  const missing = expected.filter((n) => !copies.some((c) => c.node === n));
  if (missing.length > 0)
    out.push({
      kind: "under-replicated",
      key,
      detail: `no copy on ${missing.join(", ")} of expected ${expected.join(", ")}; copies: ${shown || "none"}`,
    });
  return out;
}

/** Violations counted by kind (kinds without any left out). */
export function countByKind(
  violations: readonly Violation[],
): Partial<Record<ViolationKind, number>> {
  const counts: Partial<Record<ViolationKind, number>> = {};
  for (const v of violations) counts[v.kind] = (counts[v.kind] ?? 0) + 1;
  return counts;
}
