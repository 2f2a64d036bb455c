// One Chord node: routing (GetNode), ring maintenance by the corrected rules
// (Zave 2017), and the peer handlers, over the PeerTransport and Clock ports.
// Cadences (jittered 0.5x-1.5x, never overlapping):
//   stabilize every stabilizeMs: ask the first live successor for its
//     predecessor and list, adopt a closer live successor, notify it;
//   fix one finger every fixFingersMs (fingers sharing a node are filled together);
//   ping the predecessor every checkPredecessorMs;
//   repair replicas every repairMs (data-plane.ts).
// A failed call removes the peer from every table at once (routed around).
// Join retries its bootstrappers with exponential back-off until it succeeds.

import type { Logger } from "../log.js";
import {
  type Clock,
  PeerCallError,
  type PeerHandlers,
  type PeerTransport,
  type PutRequest,
} from "../ports.js";
import { RingDirectory } from "../ring/directory.js";
import { distance, fingerStart, ID_BITS, type Id, keyPosition, shortId } from "../ring/id.js";
import { between } from "../ring/interval.js";
import { type Peer, peerAt, RoutingTable } from "../ring/routing-table.js";
import type { RpcName, RpcReq, RpcRes } from "../wire/peer.js";
import { DataPlane, type Lookup } from "./data-plane.js";
import type { ChordOptions } from "./options.js";
import { delay, PeriodicJob } from "./periodic.js";

/** How far one stabilize run walks back along predecessors towards the true successor. */
const MAX_STABILIZE_STEPS = 16;
/** How far a joining node walks back along predecessors to its true successor. */
const MAX_JOIN_STEPS = 64;
/** Fingers are fixed this many times less often once a whole pass changed nothing. */
const SETTLED_FINGER_SLOWDOWN = 8;
/** Nodes the location cache remembers. */
const DIRECTORY_CAPACITY = 8192;
/** Next hops one lookup step tries before giving up. */
const MAX_HOP_ATTEMPTS = 4;

export interface ChordDeps {
  transport: PeerTransport;
  clock: Clock;
  random: () => number;
  log: Logger;
}

export interface ChordStats {
  lookups: number;
  lookupHops: number;
}

export class ChordNode {
  readonly table: RoutingTable;
  readonly data: DataPlane;
  /** Every node heard of: owner guesses that skip the GetNode lookup when right. */
  private readonly directory = new RingDirectory(DIRECTORY_CAPACITY);
  readonly stats: ChordStats = { lookups: 0, lookupHops: 0 };
  private readonly jobs: PeriodicJob[];
  private readonly repairJob: PeriodicJob;
  private nextFinger = 0;
  /** A whole pass over the fingers changed nothing: fix them at the slow cadence. */
  private fingersSettled = false;
  private fingerPassChanged = false;
  private state: "new" | "joining" | "running" | "stopped" = "new";

  constructor(
    private readonly deps: ChordDeps,
    private readonly opts: ChordOptions,
  ) {
    this.table = new RoutingTable(peerAt(deps.transport.address), opts.successorListLength);
    this.directory.add(this.table.self);
    this.data = new DataPlane(
      {
        clock: deps.clock,
        log: deps.log,
        table: this.table,
        call: this.call,
        lookup: (pos) => this.lookup(pos),
        guessOwner: (pos) => this.directory.successorOf(pos),
      },
      opts,
    );
    const job = (name: string, ms: number, run: () => Promise<void>) =>
      new PeriodicJob(deps, name, () => ms, run);
    this.repairJob = job("repair", opts.repairMs, () => this.data.repair());
    this.jobs = [
      job("stabilize", opts.stabilizeMs, () => this.stabilize()),
      new PeriodicJob(
        deps,
        "fix-fingers",
        () =>
          this.fingersSettled ? opts.fixFingersMs * SETTLED_FINGER_SLOWDOWN : opts.fixFingersMs,
        () => this.fixFinger(),
      ),
      job("check-predecessor", opts.checkPredecessorMs, () => this.checkPredecessor()),
      this.repairJob,
    ];
  }

  get self(): Peer {
    return this.table.self;
  }

  get running(): boolean {
    return this.state === "running";
  }

  /** Serves peers, then creates a ring (no bootstrappers) or joins one. */
  async start(bootstrappers: readonly string[]): Promise<void> {
    this.state = "joining";
    await this.deps.transport.serve(this.handlers());
    const others = bootstrappers.filter((b) => b !== this.self.addr);
    if (others.length === 0) this.deps.log.info("started a new network");
    else await this.join(others);
    if (this.state !== "joining") return;
    this.state = "running";
    for (const j of this.jobs) j.start();
  }

  put(req: PutRequest): Promise<void> {
    return this.data.put(req);
  }

  get(key: Buffer): Promise<Buffer | undefined> {
    return this.data.get(key);
  }

  /** Resolves the node responsible for ring position `pos`. */
  async lookup(pos: Id): Promise<Lookup> {
    const result = await this.resolve(pos, 0);
    this.directory.add(result.node);
    for (const s of result.succs) this.directory.add(s);
    this.stats.lookups++;
    this.stats.lookupHops += result.hops;
    return result;
  }

  /** Graceful leave: hand everything to the successor, relink the neighbours, close. */
  async leave(): Promise<void> {
    if (this.state === "stopped") return;
    const wasRunning = this.state === "running";
    this.halt();
    if (wasRunning && !this.table.alone) {
      const handed = await this.data.handOverAll().catch((err: Error) => {
        this.deps.log.error({ reason: err.message }, "handover failed");
        return 0;
      });
      this.deps.log.info(
        { records: handed, to: this.table.successor().addr },
        "handed over records",
      );
      await this.tellNeighboursWeLeave();
    }
    await this.deps.transport.close();
  }

  /** Stops at once, without handover (a crash, as far as the ring can tell). */
  async stop(): Promise<void> {
    this.halt();
    await this.deps.transport.close();
  }

  private halt(): void {
    this.state = "stopped";
    for (const j of this.jobs) j.stop();
    this.data.stop();
  }

  // --- calls: every failure routes around the peer at once ---

  private readonly call = async <K extends RpcName>(
    peer: Peer,
    name: K,
    body: RpcReq<K>,
    timeoutMs: number,
  ): Promise<RpcRes<K>> => {
    try {
      return await this.deps.transport.call(peer.addr, name, body, timeoutMs);
    } catch (err) {
      const peerAtFault =
        err instanceof PeerCallError && err.code !== "remote" && err.code !== "closed";
      if (peerAtFault) this.directory.remove(peer.id);
      if (peerAtFault && this.table.removePeer(peer.id)) {
        this.deps.log.warn({ peer: peer.addr, reason: err.code }, "peer failed, routing around it");
        this.repairJob.trigger(); // later successors moved closer: they may need copies
      }
      throw err;
    }
  };

  // --- lookup ---

  /**
   * One step of GetNode at this node. A candidate that fails is routed around
   * (call() drops it from the table) and the rules are applied again to the
   * updated table, so a dead hop never ends a lookup that a live one can finish.
   */
  private async resolve(pos: Id, hops: number): Promise<Lookup> {
    const t = this.table;
    for (let attempt = 0; attempt < MAX_HOP_ATTEMPTS; attempt++) {
      if (t.owns(pos)) return { node: t.self, succs: t.successors, hops };
      if (t.successorOwns(pos)) return { node: t.successor(), succs: t.successors.slice(1), hops };
      if (hops >= this.opts.maxHops) throw new Error(`hop limit reached resolving ${shortId(pos)}`);
      const next = t.closestPreceding(pos)[0];
      if (next === undefined) break;
      try {
        const res = await this.call(
          next,
          "getNode",
          { pos: Buffer.from(pos, "hex"), hops: hops + 1 },
          this.opts.lookupTimeoutMs,
        );
        return { node: peerAt(res.node), succs: res.succs.map(peerAt), hops: res.hops };
      } catch (err) {
        if (err instanceof PeerCallError && err.code === "remote") throw err;
        t.removePeer(next.id); // in case call() kept it (a failure it did not count)
      }
    }
    throw new Error(`no live route towards ${shortId(pos)}`);
  }

  // --- join ---

  private async join(bootstrappers: readonly string[]): Promise<void> {
    let wait = this.opts.bootstrapRetryInitialMs;
    while (this.state === "joining") {
      for (const b of bootstrappers) {
        try {
          await this.joinVia(b);
          return;
        } catch (err) {
          this.deps.log.warn(
            { bootstrapper: b, reason: (err as Error).message },
            "join attempt failed",
          );
        }
      }
      this.deps.log.warn({ retryInMs: wait }, "no bootstrapper reachable; retrying");
      await delay(this.deps.clock, wait);
      wait = Math.min(wait * 2, this.opts.bootstrapRetryMaxMs);
    }
  }

  private async joinVia(bootstrapper: string): Promise<void> {
    const found = await this.deps.transport.call(
      bootstrapper,
      "getNode",
      { pos: Buffer.from(this.self.id, "hex"), hops: 0 },
      this.opts.lookupTimeoutMs,
    );
    // Our own earlier incarnation may still be listed: take whoever follows it.
    const candidates = [found.node, ...found.succs].filter((a) => a !== this.self.addr);
    const first = peerAt(candidates[0] ?? bootstrapper);
    const view = await this.call(first, "getNeighbours", {}, this.opts.rpcTimeoutMs);
    const { list, pred } = await this.closestLiveSuccessor(first, view, MAX_JOIN_STEPS);
    const succ = list[0]!;
    this.table.setSuccessors(list);
    if (pred !== null && pred !== this.self.addr) this.table.setPredecessor(peerAt(pred));
    const split = await this.deps.transport.call(
      succ.addr,
      "splitNode",
      { from: this.self.addr },
      this.opts.transferTimeoutMs,
    );
    const newPred = this.table.predecessor;
    if (newPred !== undefined) {
      // Link in at once rather than at the predecessor's next stabilize.
      await this.call(
        newPred,
        "newSuccessor",
        { from: this.self.addr },
        this.opts.rpcTimeoutMs,
      ).catch(() => undefined);
    }
    this.deps.log.info(
      { via: bootstrapper, successor: succ.addr, records: split.sent },
      "joined the ring",
    );
  }

  /** A node says it joined right after us: adopt it as successor if it lies closer and answers. */
  private async considerSuccessor(p: Peer): Promise<void> {
    const t = this.table;
    if (p.id === t.self.id || !(t.alone || between(t.self.id, p.id, t.successor().id))) return;
    const nb = await this.call(p, "getNeighbours", {}, this.opts.rpcTimeoutMs).catch(
      () => undefined,
    );
    if (nb === undefined || !(t.alone || between(t.self.id, p.id, t.successor().id))) return;
    this.setSuccessors([p, ...nb.succs.map(peerAt)]);
  }

  // --- maintenance ---

  private async stabilize(): Promise<void> {
    const t = this.table;
    if (t.alone) {
      const pred = t.predecessor;
      if (pred !== undefined) t.setSuccessors([pred]);
      if (t.alone) return;
    }
    while (!t.alone) {
      const succ = this.closerKnownSuccessor() ?? t.successor();
      let nb: RpcRes<"getNeighbours">;
      try {
        nb = await this.call(succ, "getNeighbours", {}, this.opts.rpcTimeoutMs);
      } catch {
        if (succ.id !== t.successor().id) {
          // A candidate that fails, even with an error reply, is dropped everywhere,
          // so the next turn of this loop cannot pick it again.
          t.removePeer(succ.id);
          this.directory.remove(succ.id);
        } else if (t.knownPeers().some((p) => p.id === succ.id)) return; // it answered with an error
        continue; // call() removed it from the table: try the next one
      }
      const { list, pred } = await this.closestLiveSuccessor(succ, nb);
      this.setSuccessors(list);
      // Notify only when the successor does not already name us (saves a call per run).
      if (pred !== t.self.addr) {
        await this.call(
          t.successor(),
          "notify",
          { from: t.self.addr },
          this.opts.rpcTimeoutMs,
        ).catch(() => undefined);
      }
      return;
    }
  }

  /**
   * A peer we know of (location cache, finger, successor list) lying between us and our
   * successor, nearest to us: a better successor candidate than the list's
   * head, checked by asking it for its neighbours.
   */
  private closerKnownSuccessor(): Peer | undefined {
    const t = this.table;
    const nearest = this.directory.successorOf(fingerStart(t.self.id, 0));
    if (nearest !== undefined && between(t.self.id, nearest.id, t.successor().id)) return nearest;
    const inside = t.closestPreceding(t.successor().id);
    return inside[inside.length - 1];
  }

  /**
   * Zave's stabilize step, repeated: while the successor's predecessor lies
   * between us and it and answers, it is the closer successor. Returns the
   * successor list to adopt: that node and its own list.
   */
  private async closestLiveSuccessor(
    succ: Peer,
    nb: RpcRes<"getNeighbours">,
    maxSteps = MAX_STABILIZE_STEPS,
  ): Promise<{ list: Peer[]; pred: string | null }> {
    const self = this.self.id;
    let best = succ;
    let view = nb;
    for (let step = 0; step < maxSteps; step++) {
      const p = view.pred === null ? undefined : peerAt(view.pred);
      if (p === undefined || p.id === self || !between(self, p.id, best.id)) break;
      const closer = await this.call(p, "getNeighbours", {}, this.opts.rpcTimeoutMs).catch(
        () => undefined,
      );
      if (closer === undefined) break;
      best = p;
      view = closer;
    }
    return { list: [best, ...view.succs.map(peerAt)], pred: view.pred };
  }

  private setSuccessors(list: readonly Peer[]): void {
    const replicas = () =>
      this.table.successors
        .slice(0, this.opts.successorListLength - 1)
        .map((p) => p.id)
        .join();
    const before = this.table.successor().id;
    const replicasBefore = replicas();
    this.table.setSuccessors(list);
    for (const p of this.table.successors) this.directory.add(p);
    this.data.noteSuccessors();
    const after = this.table.successor();
    if (after.id !== before) this.deps.log.info({ successor: after.addr }, "successor changed");
    if (replicas() !== replicasBefore) this.repairJob.trigger();
  }

  private async checkPredecessor(): Promise<void> {
    const pred = this.table.predecessor;
    if (pred === undefined) return;
    await this.call(pred, "ping", {}, this.opts.rpcTimeoutMs).catch(() => {
      if (this.table.predecessor?.id === pred.id) this.table.setPredecessor(undefined);
      this.deps.log.info({ predecessor: pred.addr }, "predecessor failed");
    });
  }

  /**
   * Fixes finger i, and with it every following finger the same node covers:
   * finger j starts at self + 2^j, inside (self, node] while 2^j <= distance.
   */
  private async fixFinger(): Promise<void> {
    if (this.table.alone) return;
    const self = this.self.id;
    const i = this.nextFinger;
    const { node } = await this.resolve(fingerStart(self, i), 0);
    const last = node.id === self ? i : Math.max(i, distance(self, node.id).toString(2).length - 1);
    if (this.table.finger(i)?.id !== (node.id === self ? undefined : node.id)) {
      this.fingerPassChanged = true;
      this.fingersSettled = false;
    }
    this.table.setFingers(i, last, node);
    this.directory.add(node);
    this.nextFinger = last + 1 >= ID_BITS ? 0 : last + 1;
    if (this.nextFinger === 0) {
      this.fingersSettled = !this.fingerPassChanged;
      this.fingerPassChanged = false;
    }
  }

  /**
   * Rectify: adopt `p` as predecessor if it is closer than the current one,
   * or, once a ping shows the current one dead, in any case (Zave's rectify;
   * the ping runs in the background so the notifier's call is never held up).
   */
  private rectify(p: Peer): void {
    const t = this.table;
    if (p.id === t.self.id) return;
    const pred = t.predecessor;
    if (pred === undefined || between(pred.id, p.id, t.self.id)) this.changePredecessor(p);
    else if (pred.id !== p.id) {
      void this.checkPredecessor().then(() => {
        if (t.predecessor === undefined) this.changePredecessor(p);
      });
    }
    if (t.alone) this.setSuccessors([p]);
  }

  private changePredecessor(p: Peer | undefined): void {
    const old = this.table.predecessor;
    if (old?.id === p?.id) return;
    this.table.setPredecessor(p);
    this.deps.log.info({ predecessor: p?.addr ?? null }, "predecessor changed");
    // Our range grew unless the new predecessor lies between the old one and us.
    if (old === undefined || p === undefined || !between(old.id, p.id, this.self.id)) {
      this.data.onRangeGrew();
      this.repairJob.trigger();
    }
  }

  private async tellNeighboursWeLeave(): Promise<void> {
    const t = this.table;
    const body = {
      from: t.self.addr,
      pred: t.predecessor?.addr ?? null,
      succs: t.successors.map((s) => s.addr),
    };
    const told = [t.successor(), ...(t.predecessor === undefined ? [] : [t.predecessor])];
    await Promise.all(
      told.map((p) =>
        this.deps.transport
          .call(p.addr, "leaving", body, this.opts.rpcTimeoutMs)
          .catch(() => undefined),
      ),
    );
  }

  private onLeaving(body: RpcReq<"leaving">): void {
    const t = this.table;
    const leaver = peerAt(body.from);
    if (t.predecessor?.id === leaver.id)
      this.changePredecessor(body.pred === null ? undefined : peerAt(body.pred));
    const at = t.successors.findIndex((s) => s.id === leaver.id);
    if (at >= 0) this.setSuccessors([...t.successors.slice(0, at), ...body.succs.map(peerAt)]);
    t.removePeer(leaver.id);
    this.directory.remove(leaver.id);
    this.deps.log.info({ peer: leaver.addr }, "neighbour left");
  }

  // --- what peers ask of us: one handler per message type ---

  private handlers(): PeerHandlers {
    const t = this.table;
    return {
      ping: async () => ({}),
      getNode: async ({ pos, hops }) => {
        const r = await this.resolve(pos.toString("hex"), hops);
        return { node: r.node.addr, succs: r.succs.map((s) => s.addr), hops: r.hops };
      },
      getNeighbours: async () => ({
        pred: t.predecessor?.addr ?? null,
        succs: t.successors.map((s) => s.addr),
      }),
      notify: async ({ from }) => {
        this.rectify(peerAt(from));
        return {};
      },
      getValue: async ({ key }) => ({
        rec: this.data.getLocal(key),
        owner: t.owns(keyPosition(key)),
      }),
      insertValue: async ({ key, rec, strict }) => {
        const pos = keyPosition(key);
        const owner = t.owns(pos);
        if (strict === true && !owner) return { stored: false, owner };
        return { stored: await this.data.insertAsOwner(key, rec, pos), owner };
      },
      storeReplicas: async ({ entries }) => ({ stored: this.data.storeBatch(entries) }),
      splitNode: async ({ from }) => {
        const newcomer = peerAt(from);
        const sent = await this.data.splitTo(newcomer);
        this.rectify(newcomer);
        return { sent };
      },
      leaving: async (body) => {
        this.onLeaving(body);
        return {};
      },
      newSuccessor: async ({ from }) => {
        void this.considerSuccessor(peerAt(from));
        return {};
      },
    };
  }
}
