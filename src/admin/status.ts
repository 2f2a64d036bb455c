// What the admin endpoint tells about a node (docs/admin.md): the JSON shapes
// as TypeBox schemas (one place: the server, the CLI and the tests use them),
// and pure functions that assemble them from a Chord node's state. No I/O, no
// clock: the caller passes `now`.

import { type Static, Type } from "@sinclair/typebox";
import type { ChordNode } from "../chord/chord-node.js";
import type { BanInfo } from "../chord/misbehaviour.js";
import { distance, ID_BITS } from "../ring/id.js";

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const PeerRef = Type.Object({
  id: Type.String({ description: "ring ID, 64 hex digits" }),
  addr: Type.String({ description: "P2P address" }),
  http: Nullable(Type.String({ description: "admin endpoint, when the peer told us one" })),
});

export const FingerEntry = Type.Object({
  id: Type.String(),
  addr: Type.String(),
  /** Finger index ranges [from, to] (inclusive) this peer fills. */
  ranges: Type.Array(Type.Tuple([Type.Integer(), Type.Integer()])),
});

export const Health = Type.Union([
  Type.Literal("ok"),
  Type.Literal("joining"),
  Type.Literal("unlinked"),
  Type.Literal("catching-up"),
  Type.Literal("cut-off"),
  Type.Literal("stopped"),
]);
export type Health = Static<typeof Health>;

export const NodeStatus = Type.Object({
  id: Type.String(),
  version: Type.String(),
  uptimeSeconds: Type.Number(),
  state: Type.String({ description: "new | joining | running | stopped" }),
  health: Health,
  ready: Type.Boolean(),
  /** Why the node is not ready (absent when ready). */
  reason: Type.Optional(Type.String()),
  addresses: Type.Object({
    api: Nullable(Type.String()),
    p2p: Type.String(),
    http: Nullable(Type.String()),
  }),
  predecessor: Type.Union([
    Type.Composite([PeerRef, Type.Object({ confirmed: Type.Boolean() })]),
    Type.Null(),
  ]),
  successors: Type.Array(PeerRef),
  fingers: Type.Array(FingerEntry),
  records: Type.Object({
    count: Type.Integer(),
    bytes: Type.Integer(),
    quotaBytes: Type.Integer(),
  }),
  replication: Type.Object({
    configured: Type.Integer({ description: "copies per value when a PUT says 0" }),
    r: Type.Integer({ description: "successor list length" }),
    fresh: Type.Boolean({ description: "the data plane is caught up (false after a pause)" }),
    syncedReplicas: Type.Integer({ description: "replicas synced since the last ring change" }),
    replicas: Type.Integer({ description: "replicas the owned range should reach" }),
    antiEntropy: Type.Object({
      syncs: Type.Integer(),
      mismatches: Type.Integer(),
      recordsPulled: Type.Integer(),
      recordsPushed: Type.Integer(),
      confirmedRanges: Type.Integer(),
    }),
  }),
  ring: Type.Object({
    estimatedSize: Type.Integer({ description: "from the spacing of the successor list" }),
    fingerPasses: Type.Integer(),
    upkeepPace: Type.Integer({ minimum: 1 }),
    lostPeers: Type.Integer(),
    lookups: Type.Integer(),
    meanLookupHops: Type.Number(),
  }),
  bans: Type.Array(
    Type.Object({
      group: Type.String(),
      ip: Type.String(),
      offence: Type.String(),
      count: Type.Integer(),
      until: Type.Number({ description: "ms since the epoch" }),
    }),
  ),
  scores: Type.Array(Type.Object({ group: Type.String(), score: Type.Number() })),
});
export type NodeStatus = Static<typeof NodeStatus>;

/** Every node an endpoint can describe: one node's own, or all of a testnet's. */
export const RingView = Type.Object({
  source: Type.Union([Type.Literal("node"), Type.Literal("testnet")]),
  nodes: Type.Array(NodeStatus),
});
export type RingView = Static<typeof RingView>;

/** What the status needs beyond the Chord node. */
export interface StatusContext {
  version: string;
  startedAt: number;
  now: number;
  api: string | undefined;
  http: string | undefined;
  bans: readonly BanInfo[];
  scores: readonly { group: string; score: number }[];
}

export interface Readiness {
  ready: boolean;
  health: Health;
  reason?: string;
}

/**
 * Ready: joined and serving, i.e. running, with a confirmed predecessor or alone as a
 * ring of one (not cut off), and the data plane fresh.
 */
export function readiness(chord: ChordNode): Readiness {
  const state = chord.state;
  if (state === "stopped") return { ready: false, health: "stopped", reason: "stopped" };
  if (state !== "running") return { ready: false, health: "joining", reason: "joining the ring" };
  if (chord.upkeepView.cutOff)
    return { ready: false, health: "cut-off", reason: "cut off: every peer was lost" };
  const t = chord.table;
  if (!t.alone && (t.predecessor === undefined || !chord.upkeepView.predecessorConfirmed))
    return { ready: false, health: "unlinked", reason: "no confirmed predecessor yet" };
  if (!chord.data.fresh)
    return { ready: false, health: "catching-up", reason: "catching up: data plane not fresh" };
  return { ready: true, health: "ok" };
}

/** Ring size guessed from how much of the ring the successor list spans. */
export function estimateRingSize(selfId: string, successorIds: readonly string[]): number {
  const k = successorIds.length;
  if (k === 0) return 1;
  const span = distance(selfId, successorIds[k - 1]!);
  if (span === 0n) return k + 1;
  const n = (BigInt(k) << BigInt(ID_BITS)) / span;
  return Math.max(k + 1, Math.round(Number(n)));
}

/** The finger table deduplicated: each distinct peer with the index ranges it fills. */
export function fingerRanges(
  finger: (i: number) => { id: string; addr: string } | undefined,
): Static<typeof FingerEntry>[] {
  const out = new Map<string, Static<typeof FingerEntry>>();
  let prev: string | undefined;
  for (let i = 0; i < ID_BITS; i++) {
    const f = finger(i);
    if (f === undefined) {
      prev = undefined;
      continue;
    }
    let entry = out.get(f.id);
    if (entry === undefined) {
      entry = { id: f.id, addr: f.addr, ranges: [] };
      out.set(f.id, entry);
    }
    const last = entry.ranges[entry.ranges.length - 1];
    if (prev === f.id && last !== undefined) last[1] = i;
    else entry.ranges.push([i, i]);
    prev = f.id;
  }
  return [...out.values()];
}

/** The node's status, assembled from its state (pure: reads, never changes anything). */
export function nodeStatus(chord: ChordNode, ctx: StatusContext): NodeStatus {
  const t = chord.table;
  const ref = (p: { id: string; addr: string }) => ({
    id: p.id,
    addr: p.addr,
    http: chord.news.adminAddressOf(p.addr) ?? null,
  });
  const ready = readiness(chord);
  const ae = chord.ae.stats;
  const lookups = chord.stats;
  const store = chord.data.store;
  const opts = chord.options;
  return {
    id: t.self.id,
    version: ctx.version,
    uptimeSeconds: Math.max(0, Math.round((ctx.now - ctx.startedAt) / 1000)),
    state: chord.state,
    health: ready.health,
    ready: ready.ready,
    ...(ready.reason === undefined ? {} : { reason: ready.reason }),
    addresses: { api: ctx.api ?? null, p2p: t.self.addr, http: ctx.http ?? null },
    predecessor:
      t.predecessor === undefined
        ? null
        : { ...ref(t.predecessor), confirmed: chord.upkeepView.predecessorConfirmed },
    successors: t.successors.map(ref),
    fingers: fingerRanges((i) => t.finger(i)),
    records: { count: store.size, bytes: store.bytes, quotaBytes: store.quotaBytes },
    replication: {
      configured: opts.replication,
      r: t.r,
      fresh: chord.data.fresh,
      syncedReplicas: chord.ae.syncedReplicas,
      replicas: Math.min(opts.replication - 1, t.successors.length),
      antiEntropy: {
        syncs: ae.syncs,
        mismatches: ae.mismatches,
        recordsPulled: ae.recordsPulled,
        recordsPushed: ae.recordsPushed,
        confirmedRanges: chord.ae.confirmed.size,
      },
    },
    ring: {
      estimatedSize: estimateRingSize(
        t.self.id,
        t.successors.map((p) => p.id),
      ),
      fingerPasses: chord.upkeepView.fingerPasses,
      upkeepPace: chord.upkeepView.pace,
      lostPeers: chord.upkeepView.lostPeers,
      lookups: lookups.lookups,
      meanLookupHops:
        lookups.lookups === 0 ? 0 : Math.round((lookups.lookupHops / lookups.lookups) * 100) / 100,
    },
    bans: ctx.bans.map((b) => ({
      group: b.group,
      ip: b.ip,
      offence: b.offence,
      count: b.count,
      until: b.until,
    })),
    scores: ctx.scores.map((s) => ({ group: s.group, score: s.score })),
  };
}
