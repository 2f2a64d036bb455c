// The JSON-lines protocol between `npm run bench:peers` (the runner) and the
// child process that hosts one system's nodes. One request a line on the
// child's stdin, one reply a line on its stdout; the child logs on stderr only.
// The OpenDHT driver (opendht_driver.py) speaks the same protocol.
//
// Every operation's definition (what "formed", "consistent", a PUT and a GET
// mean for each system) is in docs/bench.md, section "Against other DHTs".

/** Operations the runner asks of a child, with their arguments and results. */
export type PeerRequests = {
  /** Starts `n` nodes one after another on 127.0.0.1, each bootstrapping from the first. */
  start: {
    args: { n: number };
    /** ms from the first node's start: all started; every node formed (see docs). */
    result: { joinedMs: number; formedMs: number | null; note: string };
  };
  /**
   * Stores `keys` probe values through random nodes, then reads every probe
   * from `samples` random nodes, round after round, until all are found.
   */
  consistency: {
    args: { keys: number; samples: number; timeoutMs: number };
    /** ms from the first node's start until a round found every probe; null on time-out. */
    result: { consistentMs: number | null; rounds: number };
  };
  /** Stores `count` values through random nodes: the keys later GETs read. */
  preload: { args: { count: number; valueBytes: number }; result: { stored: number } };
  /** `depth` operations in flight through node `via` for `seconds`. */
  load: {
    args: { op: "put" | "get"; depth: number; seconds: number; via: number; valueBytes: number };
    result: LoadResult;
  };
  /** Stops `fraction` of the nodes abruptly (never node `spare`). */
  stopNodes: { args: { fraction: number; spare: number }; result: { stopped: number } };
  /** GETs every preloaded key once through node `via` (after the runner's wait). */
  getAll: { args: { via: number; depth: number }; result: { found: number; tried: number } };
  /** Stops everything; the child exits after replying. */
  close: { args: Record<string, never>; result: null };
};

export type PeerOp = keyof PeerRequests;

export interface LoadResult {
  ops: number;
  failed: number;
  opsPerSec: number;
  p50us: number;
  p99us: number;
  /** Latency quantiles 0.005, 0.015 … 0.995 (100 points), µs: the CDF plots. */
  cdfUs: number[];
}

export interface PeerRequestLine {
  id: number;
  op: PeerOp;
  args: unknown;
}

export type PeerReplyLine =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string }
  | { ready: true; system: string; version: string };

/** 100 evenly spaced quantiles of `xs` (the CDF the plots draw). */
export function cdfPoints(xs: number[]): number[] {
  if (xs.length === 0) return [];
  const sorted = [...xs].sort((a, b) => a - b);
  return Array.from(
    { length: 100 },
    (_, i) => sorted[Math.min(sorted.length - 1, Math.floor(((i + 0.5) / 100) * sorted.length))]!,
  );
}
