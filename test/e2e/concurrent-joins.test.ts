// Nodes joining all at once, all into one arc of a small ring, while writers
// keep storing new keys of that arc: once the joins are over and the ring has
// settled, every key whose PUT was acknowledged must be found through every node.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ackedPut, readEverywhereInSlices, sleep } from "../harness/acked.js";
import { cleanupAll } from "../harness/cleanup.js";
import { Cluster, type Stored, seededRandom } from "../harness/cluster.js";
import { inArc, keyPosition } from "../harness/placement.js";
import { portsWithIds } from "../harness/ports.js";
import { keyOf } from "../harness/wire.js";

const INITIAL = 5;
const JOINERS = 8;
const STABILIZE_MS = 250;
/** Concurrent writer loops, each one acknowledged PUT after another. */
const WRITERS = 16;
/** Writing goes on this long after the last join, through old and new nodes. */
const WRITE_AFTER_JOINS_MS = 1_000;
/** A second look after this long tells "not yet visible" from "lost" in the report. */
const SECOND_LOOK_MS = 3_000;

const SEED = Number(process.env.RING_TEST_SEED ?? Math.floor(Math.random() * 2 ** 32));
const random = seededRandom(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const cluster = new Cluster({ stabilizeMs: STABILIZE_MS, replication: 3, startTimeoutMs: 30_000 });

after(async () => {
  await cluster.stop();
  await cleanupAll();
});

/** "n3: key -> FAILURE" lines -> how many distinct keys. */
const distinctKeys = (misses: readonly string[]): number =>
  new Set(misses.map((m) => m.slice(m.indexOf(" ") + 1, m.indexOf(" ->")))).size;

test(`${JOINERS} nodes joining one arc at once lose no acknowledged write (seed ${SEED})`, {
  timeout: 90_000,
}, async (t) => {
  try {
    await cluster.startRing(INITIAL);
    const initial = cluster.ringOrder();

    // The widest arc (pred, succ] of the initial ring: the joiners' IDs and the keys go there.
    const arcs = initial.map((n, i) => ({ from: initial.at(i - 1)!, to: n }));
    const width = (a: { from: { id: string }; to: { id: string } }): bigint =>
      (BigInt(`0x${a.to.id}`) - BigInt(`0x${a.from.id}`) + (1n << 256n)) % (1n << 256n);
    const arc = arcs.reduce((a, b) => (width(b) > width(a) ? b : a));
    const ports = await portsWithIds(JOINERS, (id) => inArc(arc.from.id, arc.to.id, id));
    t.diagnostic(`joining ${JOINERS} nodes between ${arc.from} and ${arc.to}`);

    const acked: Stored[] = [];
    let attempted = 0;
    let writing = true;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; writing; i++) {
        const label = `join-${SEED % 100_000}-${w}-${i}`;
        const key = keyOf(label);
        if (!inArc(arc.from.id, arc.to.id, keyPosition(key))) continue;
        const s: Stored = { key, value: Buffer.from(`${label} value`), label };
        attempted++;
        const client = await pick(cluster.live())
          .api()
          .catch(() => undefined);
        if (client !== undefined && (await ackedPut(client, s.key, s.value))) acked.push(s);
      }
    };
    const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));

    const joinStart = performance.now();
    await Promise.all(ports.map((port) => cluster.add([pick(initial).p2p], port)));
    const joinMs = performance.now() - joinStart;
    await sleep(WRITE_AFTER_JOINS_MS); // writes through the new nodes too
    writing = false;
    await Promise.all(writers);
    t.diagnostic(
      `${JOINERS} joins took ${Math.round(joinMs)} ms; ${acked.length} of ${attempted} PUTs acknowledged`,
    );
    assert.ok(acked.length > attempted / 2, `only ${acked.length} of ${attempted} acknowledged`);

    await cluster.waitForSuccessors(15_000);
    const nodes = cluster.live();
    const first = await readEverywhereInSlices(nodes, acked);
    if (first.length > 0) {
      await sleep(SECOND_LOOK_MS);
      const later = await readEverywhereInSlices(nodes, acked);
      assert.fail(
        `${distinctKeys(first)} of ${acked.length} acknowledged keys missing through some node ` +
          `once the ring settled (${first.length} of ${acked.length * nodes.length} reads); ` +
          `${distinctKeys(later)} keys still missing ${SECOND_LOOK_MS} ms later:\n  ` +
          first.slice(0, 15).join("\n  "),
      );
    }
  } catch (err) {
    console.error(`failed (RING_TEST_SEED=${SEED}); node logs:\n${cluster.stderrTails(6)}`);
    throw err;
  }
});
