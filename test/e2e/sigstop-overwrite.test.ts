// A node frozen with SIGSTOP past failure detection while the keys it held are
// overwritten through other nodes, then resumed with SIGCONT: for seconds
// afterwards every read, through every node including the resumed one, must
// return the newest acknowledged value, never the one the frozen node kept.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ackedPut, type CounterKey, counterValue, sleep, staleReads } from "../harness/acked.js";
import { cleanupAll } from "../harness/cleanup.js";
import { Cluster, seededRandom } from "../harness/cluster.js";
import { holdersOf } from "../harness/placement.js";
import { keyOf } from "../harness/wire.js";

const NODES = 7;
const STABILIZE_MS = 250;
const REPLICATION = 3;
/** Keys the frozen node owns, and keys it holds a copy of: overwritten while it is stopped. */
const OWNED_KEYS = 25;
const REPLICA_KEYS = 10;
/** Keys it does not hold (never overwritten): checked too. */
const OTHER_KEYS = 10;
/**
 * How long the node stays stopped: past the 2 s call timeout that detects it,
 * a round of reads that routes around it (another 2 s timeout) and the overwrites.
 */
const STOP_MS = 6_000;
/** How long reads are checked after SIGCONT. */
const CHECK_MS = 5_000;

const SEED = Number(process.env.RING_TEST_SEED ?? Math.floor(Math.random() * 2 ** 32));
const random = seededRandom(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const cluster = new Cluster({ stabilizeMs: STABILIZE_MS, replication: REPLICATION });

after(async () => {
  await cluster.stop();
  await cleanupAll();
});

test(`after SIGSTOP, overwrites and SIGCONT no read returns an overwritten value (seed ${SEED})`, {
  timeout: 60_000,
}, async (t) => {
  try {
    await cluster.startRing(NODES);

    const ring = cluster.ringOrder();
    const victim = pick(ring);
    const others = ring.filter((n) => n !== victim);
    // Keys by where the victim stands among their holders: owner, replica, neither.
    const wanted = [OWNED_KEYS, REPLICA_KEYS, OTHER_KEYS];
    const groups: CounterKey[][] = [[], [], []];
    for (let i = 0; groups.some((g, at) => g.length < wanted[at]!); i++) {
      const label = `frozen-${SEED % 100_000}-${i}`;
      const k: CounterKey = { key: keyOf(label), label, min: 1 };
      const at = holdersOf(k.key, ring, REPLICATION).indexOf(victim);
      const group = at === 0 ? 0 : at > 0 ? 1 : 2;
      if (groups[group]!.length < wanted[group]!) groups[group]!.push(k);
    }
    const held = [...groups[0]!, ...groups[1]!];
    const all = [...held, ...groups[2]!];
    // Version 1 of every key, acknowledged, through random nodes.
    const first = await Promise.all(
      all.map(async (k) => ackedPut(await pick(ring).api(), k.key, counterValue(k.label, 1))),
    );
    assert.ok(first.every(Boolean), "every first write acknowledged");

    const stoppedAt = performance.now();
    victim.proc.signal("SIGSTOP");
    // Only lines the nodes logged after this instant count as noticing the stop.
    const stoppedEpoch = Date.now();
    t.diagnostic(`SIGSTOP ${victim}, which holds ${held.length} keys`);
    // Overwrite once another node has noticed (a call to it timed out): the ring has moved on.
    await Promise.any(
      others.map((n) =>
        n.proc.waitForLine(
          (l) =>
            Number(l.time) >= stoppedEpoch &&
            ((l.msg === "peer failed, routing around it" && l.peer === victim.p2p) ||
              (l.msg === "predecessor failed" && l.predecessor === victim.p2p)),
          STOP_MS,
        ),
      ),
    ).catch(() => {
      throw new Error(`no node logged a failed call to ${victim} within ${STOP_MS} ms of SIGSTOP`);
    });
    const detectedMs = performance.now() - stoppedAt;
    // One read of every held key through every other node: each that still
    // tries the frozen node times out and routes around it from then on, so
    // the overwrites below do not sit in its socket buffers until SIGCONT.
    await staleReads(others, held);
    const routedMs = performance.now() - stoppedAt;
    const second = await Promise.all(
      held.map(async (k) => {
        const ok = await ackedPut(await pick(others).api(), k.key, counterValue(k.label, 2));
        if (ok) k.min = 2;
        return ok;
      }),
    );
    const overwritten = second.filter(Boolean).length;
    t.diagnostic(
      `stop noticed after ${Math.round(detectedMs)} ms, routed around after ${Math.round(routedMs)} ms; ${overwritten} of ${held.length} overwrites acknowledged`,
    );
    assert.ok(overwritten > 0, "no overwrite acknowledged while the node was stopped");
    await sleep(STOP_MS - (performance.now() - stoppedAt)); // the scenario's freeze length
    victim.proc.signal("SIGCONT");

    // Reads for CHECK_MS through every node, the resumed one included.
    const wrong = new Map<string, number>();
    let rounds = 0;
    const resumedAt = performance.now();
    while (performance.now() - resumedAt < CHECK_MS) {
      for (const w of await staleReads(ring, all)) wrong.set(w, (wrong.get(w) ?? 0) + 1);
      rounds++;
    }
    t.diagnostic(`${rounds} rounds of ${all.length * ring.length} reads in ${CHECK_MS} ms`);
    const keyOfMiss = (w: string): string => w.slice(w.indexOf(" ") + 1, w.indexOf(" ->"));
    const staleKeys = new Set([...wrong.keys()].filter((w) => w.includes(" < ")).map(keyOfMiss));
    const badReads = [...wrong.values()].reduce((a, b) => a + b, 0);
    assert.equal(
      wrong.size,
      0,
      `${badReads} wrong reads in ${rounds} rounds; ${staleKeys.size} of ${overwritten} overwritten ` +
        `keys read at their old value; by node, key and answer:\n  ${[...wrong.entries()]
          .slice(0, 20)
          .map(([w, n]) => `${w} (${n}x)`)
          .join("\n  ")}`,
    );
  } catch (err) {
    console.error(`failed (RING_TEST_SEED=${SEED}); node logs:\n${cluster.stderrTails()}`);
    throw err;
  }
});
