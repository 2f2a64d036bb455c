// Seeded randomness for simulations: the same seed gives the same run. One
// xoroshiro128+ generator (pure-rand) per source; each float takes two 32-bit
// draws for 53 bits of precision.

import { xoroshiro128plus } from "pure-rand";

/** A source of floats in [0, 1), like Math.random but reproducible. */
export type Random = () => number;

const TWO_26 = 2 ** 26;
const TWO_53 = 2 ** 53;

export function seededRandom(seed: number): Random {
  const rng = xoroshiro128plus(seed);
  return () => {
    const high = rng.unsafeNext() >>> 5; // 27 bits
    const low = rng.unsafeNext() >>> 6; // 26 bits
    return (high * TWO_26 + low) / TWO_53;
  };
}

/** An integer in [min, max], both ends included. */
export function randomInt(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** One element of a non-empty array. */
export function pick<T>(random: Random, items: readonly T[]): T {
  if (items.length === 0) throw new RangeError("pick from an empty array");
  return items[randomInt(random, 0, items.length - 1)]!;
}

/** Shuffles `items` in place (Fisher–Yates) and returns it. */
export function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(random, 0, i);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** A new independent source derived from `random` (for one node or one actor). */
export function forkRandom(random: Random): Random {
  return seededRandom(Math.floor(random() * 2 ** 32) | 0);
}

/** Bytes from a seeded source, for what a node would take from crypto (challenges). */
export function seededBytes(random: Random): (n: number) => Buffer {
  return (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
}
