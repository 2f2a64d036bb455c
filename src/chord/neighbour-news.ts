// What neighbours tell each other beside the ring itself. Policy:
// - Admin addresses: a GetNeighbours reply may carry the callee's admin (HTTP)
//   address; the latest one per peer is kept (bounded), so `ringdht ring` can walk
//   from a node's status to its successor's.
// - Graceful leaves: a leaving node tells its neighbours (successor list,
//   predecessor), then the nodes just before it and its fingers, at most
//   LEAVE_NOTICES in all, so they link around it and log a leave, not a failure.
//   Each node passes the leaves it heard of within DEPARTURE_NEWS_MS on in its
//   GetNeighbours replies; a leave passed on by a neighbour is acted on only once
//   the peer fails a ping, so a lying neighbour cannot remove a live node.

import type { Logger } from "../log.js";
import { PeerCallError, type PeerCallFailure, type PeerTransport } from "../ports.js";
import type { RingDirectory } from "../ring/directory.js";
import type { Id } from "../ring/id.js";
import { type Peer, peerAt, type RoutingTable } from "../ring/routing-table.js";
import { PEER_MAX_LEFT, type RpcRes } from "../wire/peer.js";
import type { Departures } from "./departures.js";
import type { ChordOptions } from "./options.js";

/** Peers told of a graceful leave, at most (neighbours first). */
const LEAVE_NOTICES = 32;
/** How long a graceful leave is passed on to the peers that ask for our neighbours (ms). */
const DEPARTURE_NEWS_MS = 60_000;
/** Ping failures that mean a peer is gone (not an error reply, not our own closing). */
const GONE: ReadonlySet<PeerCallFailure> = new Set(["timeout", "unreachable"]);
/** Admin addresses remembered at most. */
const MAX_ADMIN_ADDRS = 4096;

export interface NeighbourNewsDeps {
  log: Logger;
  table: RoutingTable;
  directory: RingDirectory;
  departures: Departures;
  transport: PeerTransport;
  /** A peer is known to have left: drop it everywhere. */
  peerLeft: (p: Peer) => void;
}

export class NeighbourNews {
  /** This node's admin address as told to peers, if it serves one. */
  advertised: string | undefined;
  /** Admin addresses peers gave in their GetNeighbours replies, by P2P address. */
  private readonly adminAddrs = new Map<string, string>();
  /** Leaves passed on by neighbours, being checked (ping) before acted on. */
  private readonly checkingLeft = new Set<string>();

  constructor(
    private readonly deps: NeighbourNewsDeps,
    private readonly opts: Pick<ChordOptions, "rpcTimeoutMs">,
  ) {}

  /** The admin address a peer told us, if any. */
  adminAddressOf(p2p: string): string | undefined {
    return this.adminAddrs.get(p2p);
  }

  /** The leaves this node passes on in its GetNeighbours replies. */
  recentLeaves(): string[] {
    return this.deps.departures.recent(DEPARTURE_NEWS_MS, PEER_MAX_LEFT);
  }

  /** A GetNeighbours reply: the peer's admin address, and the leaves it heard of. */
  fromReply(peer: Peer, res: RpcRes<"getNeighbours">): void {
    this.noteAdmin(peer, res);
    const { table: t, departures, transport, log } = this.deps;
    // Passed on only by our neighbours, and each checked: a peer that still answers stays.
    const neighbour = t.predecessor?.id === peer.id || t.successors.some((s) => s.id === peer.id);
    if (!neighbour || res.left === undefined) return;
    for (const addr of res.left) {
      if (addr === t.self.addr || departures.has(addr) || this.checkingLeft.has(addr)) continue;
      const p = peerAt(addr);
      if (!t.has(p.id)) continue;
      this.checkingLeft.add(addr);
      transport
        .call(addr, "ping", {}, this.opts.rpcTimeoutMs)
        .then(
          () => {},
          (err: unknown) => {
            // Only silence counts: an error reply (rate limited, not serving yet) or our own
            // transport closing says nothing about whether the peer left.
            if (!(err instanceof PeerCallError) || !GONE.has(err.code)) return;
            this.deps.peerLeft(p);
            log.info({ peer: addr, via: peer.addr }, "peer left");
          },
        )
        .finally(() => this.checkingLeft.delete(addr));
    }
  }

  /**
   * Tells the neighbours (successor list, predecessor), then the r nodes just
   * before us (they hold us in their successor lists) and the fingers, that we
   * leave.
   */
  async tellLeave(): Promise<void> {
    const { table: t, directory, transport } = this.deps;
    const body = {
      pred: t.predecessor?.addr ?? null,
      succs: t.successors.map((s) => s.addr),
    };
    // The r nodes before us hold us in their successor lists: walk back along
    // predecessors to find them (each answer names the next), else guess from the
    // location cache.
    const before: Peer[] = [];
    let back = t.predecessor;
    while (back !== undefined && before.length < t.r) {
      const p: Peer = back;
      if (p.id === t.self.id || before.some((b) => b.id === p.id)) break;
      before.push(p);
      const nb = await transport
        .call(p.addr, "getNeighbours", {}, this.opts.rpcTimeoutMs)
        .catch(() => undefined);
      back = nb?.pred == null ? undefined : peerAt(nb.pred);
    }
    let at = before[before.length - 1]?.id ?? t.self.id;
    while (before.length < t.r) {
      const p = directory.predecessorOf(at);
      if (p === undefined || p.id === t.self.id || before.some((b) => b.id === p.id)) break;
      before.push(p);
      at = p.id;
    }
    const seen = new Set<Id>([t.self.id]);
    const told: Peer[] = [];
    for (const p of [
      ...t.successors,
      ...(t.predecessor === undefined ? [] : [t.predecessor]),
      ...before,
      ...t.knownPeers(),
    ]) {
      if (seen.has(p.id) || told.length >= LEAVE_NOTICES) continue;
      seen.add(p.id);
      told.push(p);
    }
    await Promise.all(
      told.map((p) =>
        transport.call(p.addr, "leaving", body, this.opts.rpcTimeoutMs).catch(() => undefined),
      ),
    );
  }

  private noteAdmin(peer: Peer, res: RpcRes<"getNeighbours">): void {
    if (res.http === undefined) this.adminAddrs.delete(peer.addr);
    else {
      if (this.adminAddrs.size >= MAX_ADMIN_ADDRS && !this.adminAddrs.has(peer.addr))
        this.adminAddrs.clear();
      this.adminAddrs.set(peer.addr, res.http);
    }
  }
}
