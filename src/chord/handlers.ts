// What peers ask of a Chord node: one handler per message type, each vouching
// for its caller (the transport has proven the caller's address). Membership
// messages act only on the proven caller: notify and splitNode take it as a
// predecessor only once admitted by proof-of-work, and splitNode only from a
// node between our predecessor and us.

import type { Offence, PeerCaller, PeerHandlers } from "../ports.js";
import { type Id, keyPosition } from "../ring/id.js";
import { between } from "../ring/interval.js";
import { type Peer, peerAt, type RoutingTable } from "../ring/routing-table.js";
import type { RpcName } from "../wire/peer.js";
import { ADMISSION_REQUIRED, type Admission } from "./admission.js";
import type { AntiEntropy } from "./anti-entropy.js";
import type { DataPlane } from "./data-plane.js";
import type { Lookup } from "./entry.js";
import { type Joiner, NOT_BETWEEN } from "./join.js";
import type { PeerGate } from "./peer-gate.js";
import type { Stabilizer } from "./stabilizer.js";
import type { Unifier } from "./unify.js";

export type NodeState = "new" | "joining" | "running" | "stopped";

export interface HandlerDeps {
  table: RoutingTable;
  stabilizer: Stabilizer;
  joiner: Joiner;
  data: DataPlane;
  ae: AntiEntropy;
  unifier: Unifier;
  admission: Admission;
  gate: PeerGate;
  state: () => NodeState;
  /** One GetNode step for a peer: forwarded, unchecked. */
  resolve: (pos: Id, hops: number) => Promise<Lookup>;
  /** Whether an owner confirmed recently that we replicate `pos`. */
  serves: (pos: Id) => boolean;
  report: (from: PeerCaller, offence: Offence, detail: string) => void;
  /** Upkeep back to full speed (chord/calm.ts). */
  wake: () => void;
  /** A peer announced its graceful leave (after the neighbours linked around it). */
  left?: (peer: Peer) => void;
  /** A peer reached us: if it had left, it is back. */
  heard?: (addr: string) => void;
  /** Our admin (HTTP) address, told to peers in GetNeighbours replies. */
  http?: () => string | undefined;
  /** Peers that left lately, passed on in GetNeighbours replies. */
  departed?: () => string[];
  /** A request handled (ok) or answered with an error, for metrics. */
  served?: (name: RpcName, ok: boolean) => void;
}

/** The handlers, each vouching for its caller (it proved its address to the transport). */
export function peerHandlers(d: HandlerDeps): PeerHandlers {
  const table = handlerTable(d);
  const vouched = {} as Record<string, unknown>;
  for (const [name, h] of Object.entries(table) as [string, (b: never, f: PeerCaller) => unknown][])
    vouched[name] = async (body: never, from: PeerCaller) => {
      d.gate.vouch(from.addr);
      if (name !== "leaving") d.heard?.(from.addr);
      try {
        const res = await h(body, from);
        d.served?.(name as RpcName, true);
        return res;
      } catch (err) {
        d.served?.(name as RpcName, false);
        throw err;
      }
    };
  return vouched as PeerHandlers;
}

function handlerTable(d: HandlerDeps): PeerHandlers {
  const { table: t, stabilizer: s, data } = d;
  return {
    ping: async () => ({}),
    getNode: async ({ pos, hops }) => {
      // A node still joining knows no ring yet: it must not claim to own everything.
      if (d.state() !== "running") throw new Error("not in the ring yet");
      const r = await d.resolve(pos.toString("hex"), hops);
      return { node: r.node.addr, succs: r.succs.map((p) => p.addr), hops: r.hops };
    },
    getNeighbours: async ({ fromPred }, from) => {
      // A node that is joining and not linked in yet would hand out an empty list.
      if (d.state() === "joining" && t.alone) throw new Error("not in the ring yet");
      if (fromPred === true && t.predecessor?.addr === from.addr) s.heardFromPredecessor();
      const http = d.http?.();
      const left = d.departed?.() ?? [];
      return {
        pred: t.predecessor?.addr ?? null,
        succs: t.successors.map((p) => p.addr),
        ...(http === undefined ? {} : { http }),
        ...(left.length === 0 ? {} : { left }),
      };
    },
    notify: async (_, from) => {
      if (d.state() === "joining") d.joiner.heardFrom(from.addr);
      s.rectify(admittedPredecessor(d, from), true);
      return {};
    },
    getValue: async ({ key }) => data.localAnswer(key, d.serves),
    insertValue: async ({ key, rec }, from) => data.insertAsOwner(key, rec, keyPosition(key), from),
    storeReplicas: async ({ entries }, from) => data.acceptReplicas(entries, from),
    splitNode: async (_, from) => {
      const newcomer = admittedPredecessor(d, from);
      if (
        t.predecessor?.id !== newcomer.id &&
        !between(t.predecessor?.id ?? t.self.id, newcomer.id, t.self.id)
      ) {
        // Refused, not scored: an honest joiner whose lookup ran on a ring in flux sends this
        // too (2,000 joins in one process sent 92), and the refusal gives the sender nothing.
        throw new Error(NOT_BETWEEN);
      }
      // Adopt the newcomer first, so writes for its range stop being taken here as owner.
      s.rectify(newcomer, true);
      const sent = await data.splitTo(newcomer);
      return { sent };
    },
    leaving: async (body, from) => {
      const leaver = peerAt(from.addr);
      s.onLeaving(leaver, body);
      d.left?.(leaver);
      return {};
    },
    newSuccessor: async (_, from) => {
      // From our successor: its list changed, and ours will at our next stabilize.
      if (!t.alone && t.successor().addr === from.addr) d.wake();
      else void s.considerSuccessor(peerAt(from.addr));
      return {};
    },
    syncRange: async (req) => d.ae.onSyncRange(req),
    syncBuckets: async (req) => d.ae.onSyncBuckets(req),
    mergeHint: async ({ node }) => {
      if (d.state() === "joining") d.joiner.heardFrom(node);
      d.unifier.onHint(node);
      return {};
    },
    admitChallenge: async (_, from) => d.admission.issue(from.addr),
    admit: async ({ challenge, solution }, from) => {
      if (d.admission.check(from.addr, challenge, solution)) return {};
      d.report(from, "failedProof", "proof-of-work refused");
      throw new Error("proof-of-work refused");
    },
  };
}

/**
 * The caller as a predecessor candidate: one that is not our predecessor yet must have
 * been admitted by proof-of-work first (it would take over part of our range).
 */
function admittedPredecessor(d: HandlerDeps, from: PeerCaller): Peer {
  const p = peerAt(from.addr);
  if (d.table.predecessor?.id !== p.id && !d.admission.isAdmitted(from.addr))
    throw new Error(ADMISSION_REQUIRED);
  return p;
}
