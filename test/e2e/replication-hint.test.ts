// A PUT with replication hint 1 (what the course's client sends) on a ring with
// the default `replication`: once acknowledged it must survive a SIGKILL of the
// node that owns the key, i.e. the node keeps max(hint, replication) copies.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ackedPut } from "../harness/acked.js";
import { cleanupAll } from "../harness/cleanup.js";
import {
  Cluster,
  type ClusterNode,
  pollUntilNoMisses,
  readEverywhere,
  type Stored,
  seededRandom,
} from "../harness/cluster.js";
import { ownerOf } from "../harness/placement.js";
import { keyOf } from "../harness/wire.js";

const NODES = 6;
const KEYS = 8;
const STABILIZE_MS = 250;
/** How long the survivors may take to serve every key again after the kill. */
const RECOVERY_BOUND_MS = 8_000;

const SEED = Number(process.env.RING_TEST_SEED ?? Math.floor(Math.random() * 2 ** 32));
const random = seededRandom(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

// Default replication: the config does not set it; only the PUTs carry a hint.
const cluster = new Cluster({ stabilizeMs: STABILIZE_MS });

after(async () => {
  await cluster.stop();
  await cleanupAll();
});

test(`PUTs with replication hint 1 survive a SIGKILL of their owner (seed ${SEED})`, {
  timeout: 40_000,
}, async (t) => {
  try {
    await cluster.startRing(NODES);

    // Keys the victim owns by ring order, so one SIGKILL removes the node that held them.
    const victim = pick(cluster.ringOrder());
    const ring = cluster.ringOrder();
    const stored: Stored[] = [];
    for (let i = 0; stored.length < KEYS; i++) {
      const key = keyOf(`hint1-${SEED % 100_000}-${i}`);
      if (ownerOf(key, ring) === victim)
        stored.push({ key, value: Buffer.from(`hint-1 value ${i}`), label: `hint1-${i}` });
    }
    const others = cluster.live().filter((n) => n !== victim);
    const unacked: string[] = [];
    for (const s of stored) {
      const via: ClusterNode = pick(others);
      if (!(await ackedPut(await via.api(), s.key, s.value, 1)))
        unacked.push(`${s.label} via ${via.name}`);
    }
    assert.deepEqual(unacked, [], "every PUT with hint 1 acknowledged");
    t.diagnostic(`${KEYS} keys owned by ${victim}, PUT with replication hint 1 and acknowledged`);

    await victim.dropApi();
    await victim.proc.kill("SIGKILL");
    const survivors = cluster.live();
    const { elapsedMs, firstMisses } = await pollUntilNoMisses(
      `the hint-1 keys through the ${survivors.length} survivors after SIGKILL of their owner`,
      RECOVERY_BOUND_MS,
      () => readEverywhere(survivors, stored),
    );
    t.diagnostic(
      `every key readable ${Math.round(elapsedMs)} ms after the kill (first round: ${firstMisses.length} misses)`,
    );
  } catch (err) {
    console.error(`failed (RING_TEST_SEED=${SEED}); node logs:\n${cluster.stderrTails()}`);
    throw err;
  }
});
