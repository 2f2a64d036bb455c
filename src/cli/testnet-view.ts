// What `ringdht testnet` shows besides its node lines (stdout): on stderr,
// while the ring forms, a progress bar when stderr is a terminal (plain lines
// at every quarter otherwise); then a one-line summary every few seconds
// (nodes, records held, API requests per second since the last line); and a
// final summary when it is stopped (Ctrl-C, SIGTERM).

import { MultiBar, Presets, type SingleBar } from "cli-progress";
import type { RingDhtNode } from "../node.js";

/** What the summaries count over the testnet's nodes. */
export interface TestnetTotals {
  nodes: number;
  /** Records held, copies included. */
  records: number;
  /** API requests (PUT and GET) served since the start. */
  ops: number;
}

export function totalsOf(nodes: readonly (RingDhtNode | undefined)[]): TestnetTotals {
  let records = 0;
  let ops = 0;
  let count = 0;
  for (const n of nodes) {
    if (n === undefined) continue;
    count++;
    records += n.chord.data.store.size;
    ops += n.served.puts + n.served.gets;
  }
  return { nodes: count, records, ops };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export class TestnetView {
  private readonly began = Date.now();
  private multi: MultiBar | undefined;
  private bar: SingleBar | undefined;
  private joined = 0;
  private lastQuarter = 0;
  private timer: NodeJS.Timeout | undefined;
  private last = { at: Date.now(), ops: 0 };

  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly err: NodeJS.WriteStream = process.stderr,
  ) {
    if (err.isTTY === true && total > 1) {
      this.multi = new MultiBar(
        {
          stream: err,
          format: "forming the ring |{bar}| {value}/{total} nodes  {duration}s",
          hideCursor: true,
          clearOnComplete: true,
        },
        Presets.shades_classic,
      );
      this.bar = this.multi.create(total, 0);
    }
  }

  /** A line for stdout (the node lines, the ring line); kept clear of the bar on a terminal. */
  print(line: string): void {
    if (this.multi !== undefined && this.out.isTTY === true) this.multi.log(`${line}\n`);
    else this.out.write(`${line}\n`);
  }

  /** One more node has joined. */
  joinedOne(): void {
    this.joined++;
    if (this.bar !== undefined) {
      this.bar.update(this.joined);
      return;
    }
    const quarter = Math.floor((4 * this.joined) / this.total);
    if (this.total > 1 && quarter > this.lastQuarter) {
      this.lastQuarter = quarter;
      this.err.write(
        `testnet: ${this.joined}/${this.total} nodes joined after ${seconds(Date.now() - this.began)}\n`,
      );
    }
  }

  /** The ring is formed: the bar goes, summaries every `everyMs` (0: none) begin. */
  formed(totals: () => TestnetTotals, everyMs: number): void {
    this.multi?.stop();
    this.multi = undefined;
    this.bar = undefined;
    this.last = { at: Date.now(), ops: totals().ops };
    if (everyMs <= 0) return;
    this.timer = setInterval(() => this.err.write(`${this.summary(totals())}\n`), everyMs);
  }

  /** One summary line: nodes, records, ops/s since the previous line. */
  summary(t: TestnetTotals): string {
    const now = Date.now();
    const rate = ((t.ops - this.last.ops) * 1000) / Math.max(now - this.last.at, 1);
    this.last = { at: now, ops: t.ops };
    return `testnet: ${t.nodes} nodes, ${t.records} records, ${rate.toFixed(1)} ops/s (${t.ops} ops in ${seconds(now - this.began)})`;
  }

  /** Stops the bar and the summaries. */
  close(): void {
    clearInterval(this.timer);
    this.multi?.stop();
    this.multi = undefined;
  }

  /** The final summary, once stopped by `reason`. */
  final(t: TestnetTotals, reason: string): string {
    this.close();
    const up = Date.now() - this.began;
    const mean = (t.ops * 1000) / Math.max(up, 1);
    return `testnet stopped (${reason}) after ${seconds(up)}: ${t.nodes} nodes, ${t.records} records, ${t.ops} ops in total (${mean.toFixed(1)} ops/s on average)`;
  }
}

/** "1s", "500ms", "2.5s" or a number of seconds; 0 turns summaries off. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
  if (m === null) return undefined;
  const ms = m[2] === "ms" ? Number(m[1]) : Number(m[1]) * 1000;
  return ms <= 86_400_000 ? Math.round(ms) : undefined;
}
