// One seeded checker run: grow a ring, run the workload under the nemesis,
// stop the faults and let the ring quiesce, read every key through several
// nodes, snapshot the replicas, and judge the history. Everything derives
// from the seed, so the same seed gives the same history.

import { seededRandom } from "../../src/sim/index.js";
import { keyId } from "../../src/wire/key.js";
import { check, type Violation } from "./checker.js";
import type { GetOp, History, KeyReplicas } from "./history.js";
import { FAULTS, type Fault, Nemesis } from "./nemesis.js";
import { SIM_OPTIONS, SimRing } from "./sim-ring.js";
import { CLIENT_TIMEOUT_MS, keyBytesOf, Workload } from "./workload.js";

export interface ScenarioOptions {
  /** Ring size before the faults: a seeded pick in [min, max]. */
  nodes: readonly [number, number];
  /** Faults run from warmupMs to warmupMs + faultMs (ms since the ring formed). */
  warmupMs: number;
  faultMs: number;
  /** Quiet time after the faults stopped, before the final reads. */
  quiesceMs: number;
  /** Live nodes each key is read through after quiescence. */
  finalReadsPerKey: number;
  faults: readonly Fault[];
  /** Copies per value (the node's `replication`); the checker's default is a harsh 3. */
  replication: number;
}

export const DEFAULT_SCENARIO: ScenarioOptions = {
  nodes: [12, 16],
  warmupMs: 5_000,
  faultMs: 60_000,
  quiesceMs: 30_000,
  finalReadsPerKey: 3,
  faults: FAULTS,
  replication: SIM_OPTIONS.replication,
};

/** The ring after quiescence, for diagnosis (the checker does not use it). */
export interface RingReport {
  live: number;
  /** Every live node's successor and predecessor are right. */
  consistent: boolean;
  /** Groups of live nodes linked by successor pointers: 1 unless the ring split. */
  rings: number;
  /** Live nodes with an empty successor list (a ring of their own). */
  alone: string[];
}

export interface ScenarioResult {
  readonly history: History;
  readonly violations: Violation[];
  readonly ring: RingReport;
}

/** The command that replays one seed verbosely (with the fault selection, if not all). */
export function replayCommand(seed: number, faults: readonly Fault[] = FAULTS): string {
  const only = faults.length === FAULTS.length ? "" : `SIM_FAULTS=${faults.join(",")} `;
  return `${only}SEED=${seed} npm run soak`;
}

export async function runScenario(
  seed: number,
  opts: ScenarioOptions = DEFAULT_SCENARIO,
): Promise<ScenarioResult> {
  const ring = new SimRing(seed, { ...SIM_OPTIONS, replication: opts.replication });
  const random = seededRandom(seed ^ 0x2545f491);
  const size = opts.nodes[0] + Math.floor(random() * (opts.nodes[1] - opts.nodes[0] + 1));
  await ring.grow(size);
  if ((await ring.converge(30_000)) < 0) throw new Error(`seed ${seed}: the ring never formed`);

  const epoch = ring.clock.now();
  const workload = new Workload(ring, seededRandom(seed ^ 0x68e31da4), epoch);
  const nemesis = new Nemesis(ring, seededRandom(seed ^ 0x1b873593), workload, epoch, {
    minLive: Math.max(6, size - 5),
    maxLive: size + 6,
    faults: opts.faults,
  });
  const faultsEnd = opts.warmupMs + opts.faultMs;
  let running = 2;
  const finished = () => {
    running--;
  };
  workload.run(faultsEnd).then(finished);
  nemesis.run(opts.warmupMs, faultsEnd).then(finished);
  const budget = faultsEnd + CLIENT_TIMEOUT_MS + 60_000;
  if (!(await ring.clock.runUntil(() => running === 0, budget)))
    throw new Error(`seed ${seed}: the workload did not finish`);

  nemesis.quiesce();
  await ring.clock.advance(opts.quiesceMs);

  const finalReads = await ring.settle(
    Promise.all(
      workload.keys.flatMap((key) => {
        const through = ring.holdersOf(keyBytesOf(key), ring.live.length);
        const spread = through.filter(
          (_, i) => i % Math.ceil(through.length / opts.finalReadsPerKey) === 0,
        );
        return spread.map((node) => workload.read(-1, node, key));
      }),
    ),
    CLIENT_TIMEOUT_MS * 2,
  );
  const history: History = {
    seed,
    ops: workload.ops,
    partitions: nemesis.partitions,
    finalReads: finalReads.sort(byId),
    replicas: snapshot(ring, workload.keys),
    faults: nemesis.log,
  };
  return { history, violations: check(history), ring: inspect(ring) };
}

function inspect(ring: SimRing): RingReport {
  const live = ring.live;
  const group = new Map(live.map((n) => [n.self.addr, n.self.addr]));
  const root = (a: string): string => {
    const up = group.get(a)!;
    return up === a ? a : root(up);
  };
  for (const n of live) {
    const succ = n.table.successors[0]?.addr;
    if (succ !== undefined && group.has(succ)) group.set(root(n.self.addr), root(succ));
  }
  return {
    live: live.length,
    consistent: ring.consistent(),
    rings: new Set(live.map((n) => root(n.self.addr))).size,
    alone: live.filter((n) => n.table.alone).map((n) => n.self.addr),
  };
}

const byId = (a: GetOp, b: GetOp): number => a.id - b.id;

/** Which live nodes hold which copy of each key, and which must hold one. */
function snapshot(ring: SimRing, keys: readonly string[]): KeyReplicas[] {
  const now = ring.clock.now();
  return keys.map((key) => {
    const bytes = keyBytesOf(key);
    const expected = ring.holdersOf(bytes, ring.opts.replication).map((n) => n.self.addr);
    const copies = ring.live.flatMap((n) => {
      const rec = n.data.store.get(keyId(bytes), now);
      return rec === undefined
        ? []
        : [{ node: n.self.addr, version: rec.version, value: rec.value.toString() }];
    });
    return { key, expected, copies };
  });
}
