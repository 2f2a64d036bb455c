// Quorum arithmetic and waiting: a write is acknowledged once a majority of
// its replica set holds it; a read asks the whole set and completes when every
// member answered, or when a majority answered and a short grace for the rest
// has passed. Calls that are still running when a wait completes go on.

import type { Clock } from "../ports.js";

/** The smallest majority of n members (n >= 1). */
export const majority = (n: number): number => Math.floor(n / 2) + 1;

/** Resolves true once `need` of `acks` are true, false once that can no longer happen. */
export function awaitQuorum(acks: readonly Promise<boolean>[], need: number): Promise<boolean> {
  if (need <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    let yes = 0;
    let no = 0;
    for (const ack of acks) {
      void ack.then((ok) => {
        if (ok) yes++;
        else no++;
        if (yes === need) resolve(true);
        else if (no === acks.length - need + 1) resolve(false);
      });
    }
  });
}

/**
 * Collects answers from every call (undefined = no answer; calls never reject).
 * Resolves when all have settled, or `graceMs` after `need` answers that
 * `counts` accepts arrived, whichever comes first; the answers gathered by then
 * come back (in call order, holes for the rest).
 */
export function gatherAnswers<T>(
  clock: Clock,
  calls: readonly Promise<T | undefined>[],
  need: number,
  graceMs: number,
  counts: (answer: T) => boolean = () => true,
): Promise<(T | undefined)[]> {
  const answers = new Array<T | undefined>(calls.length).fill(undefined);
  return new Promise((resolve) => {
    let settled = 0;
    let answered = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve(answers.slice());
    };
    calls.forEach((call, i) => {
      void call.then((a) => {
        if (done) return;
        settled++;
        if (a !== undefined) {
          answers[i] = a;
          if (counts(a)) answered++;
          if (answered === need && settled < calls.length) clock.setTimeout(finish, graceMs);
        }
        if (settled === calls.length) finish();
      });
    });
    if (calls.length === 0) finish();
  });
}
