// Proof-of-work on admission (the original design's defense against cheap
// identities). Policy:
// - A node takes a peer as its new predecessor (notify, splitNode), which hands
//   it keys, only once that peer has solved a puzzle for it: SHA3-256 over a
//   fresh random challenge from this node, the peer's verified address and an
//   8-byte solution must start with `powBits` zero bits (ring/pow.ts). The
//   challenge is single-use and expires, so a solution can be neither
//   precomputed nor replayed, nor used for another address.
// - Admission lasts ADMITTED_MS; the current predecessor needs none.
// - The joining side solves in slices of SOLVE_SLICE attempts, yielding to the
//   event loop between slices, so a node keeps serving while it works.

import { randomBytes } from "node:crypto";
import type { Clock } from "../ports.js";
import { POW_CHALLENGE_BYTES, solvePowSteps, verifyPow } from "../ring/pow.js";
import type { Peer } from "../ring/routing-table.js";
import type { Caller } from "./data-plane.js";
import { delay } from "./periodic.js";

/** The error text a node answers with when the caller must be admitted first. */
export const ADMISSION_REQUIRED = "admission required";
/** How long an issued challenge stays valid. */
const CHALLENGE_MS = 60_000;
/** How long a solved admission lasts. */
const ADMITTED_MS = 60 * 60_000;
/** Challenges and admissions remembered at most (oldest dropped first). */
const MAX_TRACKED = 4096;
const SOLVE_SLICE = 4096;

export interface AdmissionDeps {
  clock: Clock;
  call: Caller;
  /** This node's own address, which its solutions are bound to. */
  self: () => string;
  /** Unpredictable bytes for challenges (crypto's; the simulation's seeded ones replay). */
  randomBytes?: (n: number) => Buffer;
}

export class Admission {
  private readonly challenges = new Map<string, { challenge: Buffer; until: number }>();
  private readonly admitted = new Map<string, number>();
  /** Solutions computed and accepted, and those refused (for the status page). */
  readonly stats = { solved: 0, issued: 0, accepted: 0, refused: 0 };

  constructor(
    private readonly deps: AdmissionDeps,
    private readonly bits: number,
    private readonly timeoutMs: number,
  ) {}

  /** Whether `addr` may become our predecessor without (another) proof. */
  isAdmitted(addr: string): boolean {
    if (this.bits === 0) return true;
    const until = this.admitted.get(addr);
    return until !== undefined && until >= this.deps.clock.now();
  }

  /** A fresh challenge for `addr` (replacing any earlier one). */
  issue(addr: string): { challenge: Buffer; bits: number } {
    const challenge = (this.deps.randomBytes ?? randomBytes)(POW_CHALLENGE_BYTES);
    remember(this.challenges, addr, { challenge, until: this.deps.clock.now() + CHALLENGE_MS });
    this.stats.issued++;
    return { challenge, bits: this.bits };
  }

  /** Checks a solution; true admits `addr`. The challenge is used up either way. */
  check(addr: string, challenge: Buffer, solution: Buffer): boolean {
    const issued = this.challenges.get(addr);
    this.challenges.delete(addr);
    const ok =
      issued !== undefined &&
      issued.until >= this.deps.clock.now() &&
      issued.challenge.equals(challenge) &&
      verifyPow(challenge, addr, solution, this.bits);
    if (ok) {
      remember(this.admitted, addr, this.deps.clock.now() + ADMITTED_MS);
      this.stats.accepted++;
    } else this.stats.refused++;
    return ok;
  }

  /** Gets ourselves admitted at `peer`: fetch a challenge, solve it, send the solution. */
  async obtain(peer: Peer): Promise<void> {
    const { call, clock } = this.deps;
    const { challenge, bits } = await call(peer, "admitChallenge", {}, this.timeoutMs);
    const addr = this.deps.self();
    let next: bigint = 0n;
    for (;;) {
      const step = solvePowSteps(challenge, addr, bits, next, SOLVE_SLICE);
      if (step.solution !== undefined) {
        this.stats.solved++;
        await call(peer, "admit", { challenge, solution: step.solution }, this.timeoutMs);
        return;
      }
      next = step.next;
      await delay(clock, 0);
    }
  }

  /** Runs `send`; if the peer wants us admitted first, does that and sends again. */
  async withAdmission<T>(peer: Peer, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes(ADMISSION_REQUIRED)) throw err;
    }
    await this.obtain(peer);
    return send();
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_TRACKED) map.delete(map.keys().next().value as string);
}
