// Calls to peers, and what their failures mean. Policy:
// - A call that the peer answered vouches for its address (peer-gate.ts) and
//   is counted; a GetNeighbours reply also carries neighbour news.
// - A call that fails through the peer's fault (timeout, unreachable, a
//   broken protocol: anything but an error reply or our own transport
//   closing) removes the peer from every table at once, so lookups and
//   stabilization route around it, and remembers it as lost (unify.ts), unless
//   it said it was leaving. Its later successors moved closer, so the ring
//   counts as changed (anti-entropy, the handoff).
// - A graceful leave, announced by the verified caller, drops the peer the same
//   way without counting it as lost.

import type { Logger } from "../log.js";
import { type NodeObserver, PeerCallError, type PeerTransport } from "../ports.js";
import type { RingDirectory } from "../ring/directory.js";
import type { Peer, RoutingTable } from "../ring/routing-table.js";
import type { RpcName, RpcReq, RpcRes } from "../wire/peer.js";
import type { Departures } from "./departures.js";

export interface PeerCallsDeps {
  transport: PeerTransport;
  log: Logger;
  observer: NodeObserver;
  table: RoutingTable;
  directory: RingDirectory;
  departures: Departures;
  /** The peer at `addr` answered us. */
  vouch: (addr: string) => void;
  /** A GetNeighbours reply from `peer`: its news (admin address, leaves). */
  neighbours: (peer: Peer, res: RpcRes<"getNeighbours">) => void;
  /** A peer failed (not one that left): remember it, in case a partition hides it. */
  lost: (peer: Peer) => void;
  /** A peer failed or left: replicas synced before may need syncing again. */
  forgetSyncs: () => void;
  /** The routing table lost a peer. */
  ringChanged: () => void;
}

export class PeerCalls {
  constructor(private readonly deps: PeerCallsDeps) {}

  /** One call; a failure through the peer's fault routes around it at once. */
  readonly call = async <K extends RpcName>(
    peer: Peer,
    name: K,
    body: RpcReq<K>,
    timeoutMs: number,
  ): Promise<RpcRes<K>> => {
    const { deps } = this;
    try {
      const res = await deps.transport.call(peer.addr, name, body, timeoutMs);
      deps.vouch(peer.addr);
      // No departure forgotten here: a leaver answers until it closes (handlers.ts forgets).
      deps.observer.peerCall(name, "ok");
      if (name === "getNeighbours") deps.neighbours(peer, res as RpcRes<"getNeighbours">);
      return res;
    } catch (err) {
      deps.observer.peerCall(name, err instanceof PeerCallError ? err.code : "remote");
      const peerAtFault =
        err instanceof PeerCallError && err.code !== "remote" && err.code !== "closed";
      if (peerAtFault) this.forget(peer, err.code);
      throw err;
    }
  };

  private forget(peer: Peer, reason: string): void {
    const { deps } = this;
    deps.directory.remove(peer.id);
    if (!deps.table.removePeer(peer.id)) return;
    deps.forgetSyncs();
    if (deps.departures.has(peer.addr)) {
      // It said it was leaving: gone, not failed, and not worth probing for a partition.
      deps.log.debug({ peer: peer.addr, reason }, "peer that left dropped from the table");
    } else {
      deps.lost(peer);
      deps.log.warn({ peer: peer.addr, reason }, "peer failed, routing around it");
    }
    deps.ringChanged(); // later successors moved closer: they may need copies
  }

  /** A peer (the verified caller) announced its graceful leave: drop it everywhere. */
  peerLeft(peer: Peer): void {
    this.deps.departures.add(peer.addr);
    this.deps.directory.remove(peer.id);
    if (this.deps.table.removePeer(peer.id)) this.deps.ringChanged();
  }
}
