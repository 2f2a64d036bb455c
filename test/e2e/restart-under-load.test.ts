// Crash-restart under load with a version checker: one writer per key keeps
// overwriting it with a growing counter while readers check that every read
// started after a write was acknowledged returns that write or a newer one;
// meanwhile nodes are SIGKILLed one at a time and restarted at the same ports.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  ackedPut,
  type CounterKey,
  counterOf,
  counterValue,
  sleep,
  staleReads,
  tryGet,
} from "../harness/acked.js";
import { cleanupAll } from "../harness/cleanup.js";
import { Cluster, pollUntilNoMisses, seededRandom } from "../harness/cluster.js";
import { ownerOf } from "../harness/placement.js";
import { keyOf } from "../harness/wire.js";

const NODES = 10;
const STABILIZE_MS = 250;
const KEYS = 6;
const READERS = 6;
/** Crash-restart cycles, one node at a time. */
const CYCLES = 5;
/** Load before the first kill, between a restart and the next kill, and after the last. */
const LOAD_MS = 1_500;
/** How long the ring may take to serve every key's newest value once the load stops. */
const FINAL_BOUND_MS = 5_000;

const SEED = Number(process.env.RING_TEST_SEED ?? Math.floor(Math.random() * 2 ** 32));
const random = seededRandom(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const cluster = new Cluster({
  stabilizeMs: STABILIZE_MS,
  replication: 3,
  startTimeoutMs: 30_000,
  quietPorts: true, // so a killed node's ports are free for its restart
});

after(async () => {
  await cluster.stop();
  await cleanupAll();
});

test(`reads never go back behind an acknowledged write across ${CYCLES} crash-restarts (seed ${SEED})`, {
  timeout: 90_000,
}, async (t) => {
  try {
    await cluster.startRing(NODES);

    const keys: CounterKey[] = Array.from({ length: KEYS }, (_, i) => {
      const label = `k${i}:counter`;
      return { key: keyOf(label), label, min: 0 };
    });
    let running = true;
    let hot = keys[0]!;
    let writes = 0;
    let reads = 0;
    const violations: { label: string; text: string }[] = [];

    // One writer per key: counters grow, `min` is the newest acknowledged one.
    const writer = async (k: CounterKey): Promise<void> => {
      for (let c = 1; running; c++) {
        const via = pick(cluster.live());
        const client = await via.api().catch(() => undefined);
        if (client === undefined) continue;
        if (await ackedPut(client, k.key, counterValue(k.label, c))) k.min = c;
        else await via.dropApi();
        writes++;
      }
    };
    const reader = async (): Promise<void> => {
      while (running) {
        // Half the reads go to the key whose owner was killed last.
        const k = random() < 0.5 ? hot : pick(keys);
        const via = pick(cluster.live());
        const expected = k.min; // acknowledged before this read was invoked
        const client = await via.api().catch(() => undefined);
        if (client === undefined) continue;
        const got = await tryGet(client, k.key);
        if (got instanceof Error) {
          await via.dropApi();
          continue;
        }
        reads++;
        const counter = got === undefined ? undefined : counterOf(k.label, got);
        if (expected > 0 && (counter === undefined || counter < expected))
          violations.push({
            label: k.label,
            text: `${via.name}: ${k.label} -> ${counter === undefined ? "FAILURE" : `#${counter}`} after #${expected} was acknowledged`,
          });
      }
    };
    const load = [...keys.map(writer), ...Array.from({ length: READERS }, reader)];

    await sleep(LOAD_MS);
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      // The owner of a key under load: its range moves to its successor and back.
      const key = pick(keys);
      const victim = ownerOf(key.key, cluster.ringOrder());
      hot = key;
      const before = violations.length;
      await victim.dropApi();
      await victim.proc.kill("SIGKILL");
      const others = cluster.live();
      const restarted = await cluster.restart(victim, [pick(others).p2p, pick(others).p2p]);
      await sleep(LOAD_MS); // the scenario's spacing: load on the restarted ring
      t.diagnostic(
        `cycle ${cycle + 1}: ${restarted}, owner of ${key.label}, killed and restarted; ` +
          `${violations.length - before} violations since`,
      );
    }
    running = false;
    await Promise.all(load);
    t.diagnostic(`${writes} writes, ${reads} reads checked, ${violations.length} violations`);

    // In the end every key holds its newest acknowledged value, through every node.
    const final = await pollUntilNoMisses(
      "every key's newest acknowledged value through every node",
      FINAL_BOUND_MS,
      () => staleReads(cluster.live(), keys),
    ).catch((err: Error) => err);
    const byKey = new Map<string, number>();
    for (const v of violations) byKey.set(v.label, (byKey.get(v.label) ?? 0) + 1);
    assert.deepEqual(
      violations.slice(0, 15).map((v) => v.text),
      [],
      `${violations.length} of ${reads} reads returned an older value than the newest ` +
        `acknowledged write, or none (by key: ${[...byKey].map(([k, n]) => `${k} ${n}x`).join(", ")})`,
    );
    if (final instanceof Error) throw final;
  } catch (err) {
    console.error(`failed (RING_TEST_SEED=${SEED}); node logs:\n${cluster.stderrTails(8)}`);
    throw err;
  }
});
