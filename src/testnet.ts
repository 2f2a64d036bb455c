// A whole ring in one process on loopback: N nodes on consecutive ports, the
// first starting the network and the others joining through it, JOIN_CONCURRENCY
// at a time (a join refused by a successor that moved meanwhile starts over,
// chord/join.ts, so concurrent joins still link in at their places). Used by
// `ringdht testnet` and the benchmarks. The nodes reach each other in memory
// (net/local-exchange.ts) unless `overTcp`: each node then holds only its two
// listeners, so thousands fit in one process. Nodes outside the process reach
// them, and are reached, over TCP as usual.

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Config } from "./config/config.js";
import { defaultConfig } from "./config/config.js";
import type { Logger } from "./log.js";
import { LocalExchange } from "./net/local-exchange.js";
import { RingDhtNode } from "./node.js";

export interface TestnetOptions {
  nodes: number;
  host: string;
  p2pBasePort: number;
  apiBasePort: number;
  /** Overrides applied to every node's configuration. */
  config?: Partial<Config>;
  /** Nodes talk over loopback TCP, as separate hosts would, instead of in memory. */
  overTcp?: boolean;
  /** Keep each node's Prometheus metrics (for an admin endpoint); default off. */
  metrics?: boolean;
}

/** Proof-of-work difficulty of a testnet's nodes unless configured: cheap, still exercised. */
export const TESTNET_POW_DIFFICULTY = 8;

export function testnetConfig(opts: TestnetOptions, index: number): Config {
  const base = { ...defaultConfig(), powDifficulty: TESTNET_POW_DIFFICULTY, ...opts.config };
  const p2p = { host: opts.host, port: opts.p2pBasePort === 0 ? 0 : opts.p2pBasePort + index };
  return {
    ...base,
    p2pAddress: p2p,
    apiAddress: { host: opts.host, port: opts.apiBasePort === 0 ? 0 : opts.apiBasePort + index },
    // One admin endpoint serves the whole testnet (testnet-admin.ts), none per node.
    httpAddress: undefined,
    bootstrappers: [],
  };
}

/**
 * Nodes joining at once while a testnet forms. The ring's upkeep grows with the
 * nodes already in it and competes with the joins for the one thread, so the
 * sooner the joins are done the less upkeep they wait behind: 2,000 nodes formed
 * in 9.2-10.3 s with 16 at a time, 8.7-8.8 s with 32 and 7.2-7.8 s with 64, on
 * 87, 67 and 62-67 peer calls per node (128 left stragglers in one run of two).
 */
export const JOIN_CONCURRENCY = 64;

/**
 * How far V8 lets the heap of a formed testnet grow past what survived its last
 * full collection, in percent. Node's default lets it grow up to 4x while the
 * program allocates fast, as it does while thousands of nodes join: 2,000 idle
 * nodes then held 138-216 KiB each, two thirds of it dead objects waiting for a
 * collection. At 20 % they held 89-101 KiB. Set only once the ring has formed:
 * during formation it costs CPU (13.6-19.5 s of formation CPU against
 * 13.7-15.0 s in three runs each).
 */
export const FORMED_HEAP_GROWTH_PERCENT = 20;

/**
 * Keeps this process's heap within FORMED_HEAP_GROWTH_PERCENT of what is live
 * (process-wide), starting with one full, compacting collection now.
 * - The collection: V8 applies the growth at its next full collection, which on
 *   an idle testnet can be minutes away (an idle 2,000-node testnet still held
 *   400 MiB 70 s after formation, 276 MiB after ten minutes, 250-265 MiB in
 *   three runs with a collection).
 * - Compacting: a plain collection frees the dead objects but keeps their pages
 *   committed, as sparse as formation left them (about 150 MiB of old space for
 *   100-110 MiB live at 2,000 nodes). This one collection moves the survivors
 *   together (`--compact-on-every-full-gc`, switched off again right after, so
 *   later collections compact only as V8 chooses). `ringdht testnet -n 2000` then
 *   held 235-238 MiB in three runs (86-88 KiB per node above an idle process),
 *   against 250-265 MiB (94-101 KiB); in-process probes read 85-87 KiB against
 *   95-97 KiB, at the same idle CPU. The cost is a one-off pause of 0.5-0.7 s
 *   instead of 0.15 s at 2,000 nodes. It should grow with the live heap, which
 *   compaction copies (not measured at other sizes): near 2 s (about 6,000 nodes,
 *   an estimate) every node would take it for a pause of its own and catch up
 *   (chord/pause-watch.ts).
 */
export function tightenHeap(): void {
  setFlagsFromString(`--heap-growing-percent=${FORMED_HEAP_GROWTH_PERCENT}`);
  try {
    setFlagsFromString("--expose-gc");
    const gc: unknown = runInNewContext("gc");
    if (typeof gc === "function") {
      setFlagsFromString("--compact-on-every-full-gc");
      try {
        gc();
      } finally {
        setFlagsFromString("--no-compact-on-every-full-gc");
      }
    }
  } catch {
    // No collection on demand in this runtime (or it failed): the growth applies from
    // V8's next collection.
  }
}

/** Starts the first node, then the others JOIN_CONCURRENCY at a time, each joining through the first. */
export async function startTestnet(
  opts: TestnetOptions,
  log: Logger,
  onStarted: (node: RingDhtNode, index: number) => void = () => {},
): Promise<RingDhtNode[]> {
  const nodes: RingDhtNode[] = [];
  const started: RingDhtNode[] = [];
  const exchange = opts.overTcp === true ? undefined : new LocalExchange();
  const start = async (i: number, via: RingDhtNode | undefined) => {
    const config = testnetConfig(opts, i);
    if (via !== undefined) config.bootstrappers = [parseP2p(via.p2pAddress)];
    const node = await RingDhtNode.start(config, {
      log,
      metrics: opts.metrics === true,
      ...(exchange === undefined ? {} : { exchange }),
    });
    nodes[i] = node;
    started.push(node);
    onStarted(node, i);
  };
  let failure: unknown;
  try {
    await start(0, undefined);
    const first = nodes[0]!;
    let next = 1;
    let running = 0;
    // A small ring takes few joins at once: at most a quarter of its size, up to JOIN_CONCURRENCY.
    const room = () => Math.min(JOIN_CONCURRENCY, Math.max(1, Math.floor(started.length / 4)));
    await new Promise<void>((done) => {
      const launch = () => {
        while (failure === undefined && next < opts.nodes && running < room()) {
          running++;
          start(next++, first)
            .catch((err: unknown) => {
              failure ??= err;
            })
            .finally(() => {
              running--;
              launch();
            });
        }
        if (running === 0) done();
      };
      launch();
    });
  } catch (err) {
    failure ??= err;
  }
  if (failure !== undefined) {
    await Promise.all(started.map((n) => n.crash()));
    throw failure;
  }
  return nodes;
}

/**
 * Nodes of a testnet whose successor or predecessor is not the next or previous
 * node by ID: 0 once the ring is consistent. Nodes outside `nodes` are not
 * counted as part of the ring.
 */
export function misplacedNodes(nodes: readonly RingDhtNode[]): number {
  return misplacedInRing(byId(nodes));
}

const byId = (nodes: readonly RingDhtNode[]) =>
  [...nodes].sort((a, b) => (a.chord.self.id < b.chord.self.id ? -1 : 1));

/** misplacedNodes over nodes already sorted by ID. */
function misplacedInRing(ring: readonly RingDhtNode[]): number {
  let wrong = 0;
  for (let i = 0; i < ring.length; i++) {
    const t = ring[i]!.chord.table;
    const next = ring[(i + 1) % ring.length]!.chord.self.id;
    const prev = ring[(i - 1 + ring.length) % ring.length]!.chord.self.id;
    const alone = ring.length === 1;
    if (t.successor().id !== next || (!alone && t.predecessor?.id !== prev)) wrong++;
  }
  return wrong;
}

/** How often settleTestnet looks at the pointers (ms). */
const SETTLE_POLL_MS = 50;

/**
 * Waits until every node's successor and predecessor are right, up to
 * `timeoutMs`; resolves with the nodes still misplaced then (0: consistent).
 * Polled: pointers change inside each node's upkeep, with no event for the
 * whole ring. A formed testnet usually is consistent when its last join
 * returns; a straggler's neighbours take one more stabilize or two.
 */
export async function settleTestnet(
  nodes: readonly RingDhtNode[],
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const ring = byId(nodes); // IDs never change: sorted once
  let wrong = misplacedInRing(ring);
  while (wrong > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
    wrong = misplacedInRing(ring);
  }
  return wrong;
}

function parseP2p(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(":");
  return { host: addr.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(addr.slice(at + 1)) };
}
