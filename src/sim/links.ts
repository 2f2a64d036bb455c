// The fate of one simulated message on the link from one node to another.
// Policy: a partition cuts both directions between two groups until heal();
// otherwise the message is dropped with the link's own rate when one is set
// (directional, from → to), else with the network-wide rate; a message that
// survives waits a uniform whole number of milliseconds in the link's latency
// range, else the network's. All draws come from the one seeded source.

import { type Random, randomInt } from "./random.js";

/** [min, max] milliseconds, both included, 1 <= min <= max. */
export type LatencyRange = readonly [minMs: number, maxMs: number];

const linkKey = (from: string, to: string): string => `${from} ${to}`;

function checkRate(rate: number): number {
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`drop rate ${rate} is not in [0, 1]`);
  return rate;
}

function checkLatency(range: LatencyRange): LatencyRange {
  const [min, max] = range;
  if (!(Number.isInteger(min) && Number.isInteger(max) && min >= 1 && min <= max)) {
    throw new RangeError(`latency [${min}, ${max}] must be whole ms with 1 <= min <= max`);
  }
  return [min, max];
}

export class LinkPolicy {
  private dropRate: number;
  private readonly latency: LatencyRange;
  private readonly linkDrop = new Map<string, number>();
  private readonly linkLatency = new Map<string, LatencyRange>();
  private cuts: { a: ReadonlySet<string>; b: ReadonlySet<string> }[] = [];

  constructor(
    private readonly random: Random,
    latency: LatencyRange,
    dropRate: number,
  ) {
    this.latency = checkLatency(latency);
    this.dropRate = checkRate(dropRate);
  }

  /** The delay of one message from `from` to `to` in ms, or undefined when it is lost. */
  route(from: string, to: string): number | undefined {
    if (this.cuts.length > 0 && this.isCut(from, to)) return undefined;
    const key = linkKey(from, to);
    const drop = this.linkDrop.get(key) ?? this.dropRate;
    if (drop > 0 && this.random() < drop) return undefined;
    const [min, max] = this.linkLatency.get(key) ?? this.latency;
    return min === max ? min : randomInt(this.random, min, max);
  }

  isCut(from: string, to: string): boolean {
    return this.cuts.some(({ a, b }) => (a.has(from) && b.has(to)) || (b.has(from) && a.has(to)));
  }

  partition(groupA: readonly string[], groupB: readonly string[]): void {
    this.cuts.push({ a: new Set(groupA), b: new Set(groupB) });
  }

  heal(): void {
    this.cuts = [];
  }

  setDrop(rate: number): void {
    this.dropRate = checkRate(rate);
  }

  /** Overrides the drop rate from → to; undefined goes back to the network's. */
  setLinkDrop(from: string, to: string, rate: number | undefined): void {
    if (rate === undefined) this.linkDrop.delete(linkKey(from, to));
    else this.linkDrop.set(linkKey(from, to), checkRate(rate));
  }

  /** Overrides the latency from → to; undefined goes back to the network's. */
  setLinkLatency(from: string, to: string, range: LatencyRange | undefined): void {
    if (range === undefined) this.linkLatency.delete(linkKey(from, to));
    else this.linkLatency.set(linkKey(from, to), checkLatency(range));
  }
}
