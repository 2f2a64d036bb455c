// Named intervals on the identifier circle, going clockwise from a to b.
// With a === b, (a, a) is the whole ring but a, and (a, a] the whole ring:
// the conventions a ring of one node needs. Every Chord rule in docs/design.md
// names the interval it uses.

import type { Id } from "./id.js";

/** x in (a, b), open at both ends. */
export function between(a: Id, x: Id, b: Id): boolean {
  if (a < b) return a < x && x < b;
  return a !== x && (x > a || x < b);
}

/** x in (a, b]: the interval a node with predecessor a owns when it is b. */
export function betweenRightIncl(a: Id, x: Id, b: Id): boolean {
  return x === b || between(a, x, b);
}

/** x in [a, b). */
export function betweenLeftIncl(a: Id, x: Id, b: Id): boolean {
  return x === a || between(a, x, b);
}
