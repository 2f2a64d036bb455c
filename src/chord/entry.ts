// The client path: PUT and GET at the node a client talks to (the entry node).
// Policy:
// - PUT: the entry node versions the write (hybrid logical clock) and fixes
//   its absolute deadline; copies = max(hint, `replication`) within [1, r].
//   It sends InsertValue (strict: only a fresh node that owns the key by its
//   own predecessor stores it) to the cached owner, then through GetNode,
//   retrying with back-off (50 ms doubling up to 1 s, 8 attempts) while ownership is in
//   flux. Acknowledged once the owner reports a majority of its replica set
//   holds the write; otherwise the PUT fails (the API client sees FAILURE on
//   its next GET unless an older value exists).
// - GET: ask every member of the replica set (owner and `replication` - 1
//   successors) at once; complete when all answered, or a majority answered
//   and `readGraceMs` passed. The newest live version wins (a version past
//   our clock + 60 s never does, chord/record-rules.ts); members that
//   answered with an older copy or none get the newest in the background:
//   from this node when it lies near the key (rank < r), else through the
//   owner (InsertValue, which the owner copies to its replica set).
//   Answers of members that are not fresh (joining, or catching up after a
//   pause) count for nothing but their copy: fewer than a majority of fresh
//   answers is unavailable; the GET retries with the PUT's back-off and
//   patience (8 attempts, about 3.5 s) before the API answers FAILURE.
// - The replica set comes from the location cache when its first member
//   confirms it owns the key (it also names its successors, and any the
//   cache missed are asked too), else from a checked lookup (lookup.ts: the
//   owner, verified, and its own successor list).

import type { Logger } from "../log.js";
import type { Clock, PutRequest } from "../ports.js";
import type { RingDirectory } from "../ring/directory.js";
import { type Id, keyPosition } from "../ring/id.js";
import { type Peer, peerAt, type RoutingTable } from "../ring/routing-table.js";
import { keyId, supersedes } from "../store/store.js";
import type { RpcRes, WireRecord } from "../wire/peer.js";
import type { Caller, DataPlane } from "./data-plane.js";
import type { ChordOptions } from "./options.js";
import { delay } from "./periodic.js";
import { gatherAnswers, majority } from "./quorum.js";
import { maxVersionAt } from "./record-rules.js";
import { deadlineOf } from "./ttl.js";

export interface Lookup {
  node: Peer;
  /** The owner's successors as far as the resolver knows them: the replicas. */
  succs: readonly Peer[];
  hops: number;
}

export interface EntryDeps {
  clock: Clock;
  log: Logger;
  table: RoutingTable;
  data: DataPlane;
  call: Caller;
  lookup: (pos: Id) => Promise<Lookup>;
  directory: RingDirectory;
  /** Whether an owner recently confirmed that this node replicates `pos`. */
  serves: (pos: Id) => boolean;
  /** Alone after losing every peer (still trying to reach them): no answer is trustworthy. */
  cutOff: () => boolean;
}

/** The GET failed to reach a majority of the replica set in time. */
export class UnavailableError extends Error {
  override readonly name = "UnavailableError";
}

const PUT_ATTEMPTS = 8;
const PUT_BACKOFF_MS = 50;
const PUT_BACKOFF_MAX_MS = 1000;
/**
 * GET attempts while no majority answers, as many as a PUT's (back-off 50 ms doubling
 * to 1 s): with 6 (1.5 s), a member restarting under CI load still surfaced as FAILURE.
 */
const GET_ATTEMPTS = PUT_ATTEMPTS;

type Answer = RpcRes<"getValue">;

export class EntryPath {
  constructor(
    private readonly deps: EntryDeps,
    private readonly opts: ChordOptions,
  ) {}

  async put(req: PutRequest): Promise<void> {
    const { clock, data } = this.deps;
    const now = clock.now();
    const rec: WireRecord = {
      value: req.value,
      version: data.versions.next(now),
      deadline: deadlineOf(req.ttl, now, this.opts),
      replication: data.copiesFor(req.replication),
    };
    const pos = keyPosition(req.key);
    for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
      const target = attempt === 0 ? this.guess(pos, 1)[0] : await this.ownerOf(pos);
      if (target !== undefined) {
        const res = await this.insertAt(target, req.key, rec, pos);
        if (res?.stored === true) return;
      }
      if (attempt > 0)
        await delay(clock, Math.min(PUT_BACKOFF_MS * 2 ** (attempt - 1), PUT_BACKOFF_MAX_MS));
    }
    throw new Error("PUT: no majority of the replica set could be reached");
  }

  /**
   * A GET that finds no majority of fresh answers is retried with the PUT's
   * back-off: the API has one FAILURE for "not found" and "unavailable", so a
   * client cannot tell a replica set in flux (a member restarting, a range
   * moving) from a lost value. Only after GET_ATTEMPTS does it give up.
   */
  async get(key: Buffer): Promise<Buffer | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.getOnce(key);
      } catch (err) {
        if (!(err instanceof UnavailableError) || attempt >= GET_ATTEMPTS) throw err;
      }
      await delay(
        this.deps.clock,
        Math.min(PUT_BACKOFF_MS * 2 ** (attempt - 1), PUT_BACKOFF_MAX_MS),
      );
    }
  }

  private async getOnce(key: Buffer): Promise<Buffer | undefined> {
    const { table, data, clock } = this.deps;
    if (this.deps.cutOff()) throw new UnavailableError("GET: this node is cut off from the ring");
    if (table.alone) return data.store.get(keyId(key), clock.now())?.value;
    const pos = keyPosition(key);
    const n = this.opts.replication;
    const guessed = this.guess(pos, n);
    let set = guessed;
    let answers = guessed.length > 0 ? await this.ask(guessed, key) : [];
    const owner = answers[0];
    if (owner?.owner === true) {
      // The owner names the rest of the replica set: ask the members our guess missed.
      const missed = (owner.succs ?? [])
        .slice(0, n - 1)
        .map(peerAt)
        .filter((p) => !set.some((q) => q.id === p.id));
      if (missed.length > 0) {
        for (const p of missed) this.deps.directory.add(p);
        set = [...set, ...missed];
        answers = [...answers, ...(await this.ask(missed, key))];
      }
    }
    const answered = () => answers.filter((a) => a !== undefined && a.fresh !== false).length;
    const need = () => majority(Math.min(set.length, n));
    // Every copy heard counts towards the newest, also those of a set found wrong.
    const heard = [...answers];
    if (owner?.owner !== true || answered() < need()) {
      const found = await this.deps.lookup(pos);
      set = [found.node, ...found.succs.filter((p) => p.id !== found.node.id)].slice(0, n);
      answers = await this.ask(set, key);
      heard.push(...answers);
    }
    const best = this.newest(heard);
    if (best !== undefined) {
      data.versions.observe(best.version);
      this.repair(set, answers, key, best, pos);
    }
    if (answered() < need()) {
      this.deps.log.debug(
        {
          key: key.toString("hex").slice(0, 8),
          set: set.map((p) => p.addr),
          answers: answers.map((a) =>
            a === undefined ? "none" : a.fresh === false ? "stale" : "ok",
          ),
        },
        "GET unavailable: no majority of fresh answers",
      );
      throw new UnavailableError("GET: no majority of the replica set answered");
    }
    return best?.value;
  }

  private guess(pos: Id, k: number): Peer[] {
    return this.deps.directory.successorsOf(pos, k);
  }

  private async ownerOf(pos: Id): Promise<Peer | undefined> {
    return (await this.deps.lookup(pos).catch(() => undefined))?.node;
  }

  private insertAt(
    target: Peer,
    key: Buffer,
    rec: WireRecord,
    pos: Id,
  ): Promise<RpcRes<"insertValue"> | undefined> {
    const { table, data, call } = this.deps;
    if (target.id === table.self.id) return data.insertAsOwner(key, rec, pos);
    return call(target, "insertValue", { key, rec, strict: true }, this.opts.rpcTimeoutMs).catch(
      () => undefined,
    );
  }

  private ask(set: readonly Peer[], key: Buffer): Promise<(Answer | undefined)[]> {
    const { table, data, clock, call } = this.deps;
    const calls = set.map((p) =>
      p.id === table.self.id
        ? Promise.resolve<Answer>(data.localAnswer(key, this.deps.serves))
        : call(p, "getValue", { key }, this.opts.rpcTimeoutMs).catch(() => undefined),
    );
    const fresh = (a: Answer) => a.fresh !== false;
    return gatherAnswers(clock, calls, majority(set.length), this.opts.readGraceMs, fresh);
  }

  /** The newest live copy heard; a version past our clock plus the skew never counts. */
  private newest(answers: readonly (Answer | undefined)[]): WireRecord | undefined {
    const now = this.deps.clock.now();
    let best: WireRecord | undefined;
    for (const a of answers) {
      const rec = a?.rec;
      if (rec == null || now > rec.deadline || rec.version > maxVersionAt(now)) continue;
      if (best === undefined || supersedes(rec, best)) best = rec;
    }
    return best;
  }

  /**
   * Read repair: members that answered with an older copy, or none, get the
   * newest. This node pushes it to them itself when it lies near the key
   * (chord/record-rules.ts: members take copies only from nodes near the
   * key); otherwise the owner (the set's first member) is sent it as
   * InsertValue and copies it to its replica set.
   */
  private repair(
    set: readonly Peer[],
    answers: readonly (Answer | undefined)[],
    key: Buffer,
    best: WireRecord,
    pos: Id,
  ): void {
    const { table, data, call } = this.deps;
    const stale = (a: Answer | undefined) =>
      a !== undefined && (a.rec == null || supersedes(best, a.rec));
    const owner = set[0];
    if (owner === undefined || !answers.some(stale)) return;
    const entries = [{ key, rec: best }];
    if (data.rules.near(table.self.id, pos)) {
      set.forEach((peer, i) => {
        if (!stale(answers[i])) return;
        if (peer.id === table.self.id) data.storeBatch(entries);
        else void call(peer, "storeReplicas", { entries }, this.opts.rpcTimeoutMs).catch(() => 0);
      });
    } else if (owner.id === table.self.id) void data.insertAsOwner(key, best, pos);
    else {
      const body = { key, rec: best, strict: true };
      void call(owner, "insertValue", body, this.opts.rpcTimeoutMs).catch(() => undefined);
    }
  }
}
