// A real network partition of node processes (Linux network namespaces, see
// harness/netns.ts): writes acknowledged on either side while cut off, and
// before, must all be readable with their newest value through every node
// once the network is whole again.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  ackedPut,
  type CounterKey,
  counterValue,
  shuffled,
  staleReads,
  summarizeMisses,
} from "../harness/acked.js";
import { cleanupAll } from "../harness/cleanup.js";
import { pollUntilNoMisses, seededRandom, waitForSuccessors } from "../harness/cluster.js";
import { NetnsLab, netnsUnavailable } from "../harness/netns.js";
import { type NsNode, startNsNode } from "../harness/netns-node.js";
import { keyOf } from "../harness/wire.js";

const NODES = 6;
const MINORITY = 2;
const STABILIZE_MS = 250;
const KEYS_BEFORE = 40;
/** New keys written through each side while it is cut off. */
const KEYS_DURING = 30;
/** Keys written before, overwritten through one side while cut off (disjoint per side). */
const OVERWRITES = 10;
/** How long both sides may take to notice the cut. */
const DETECT_BOUND_MS = 8_000;
/** How long the whole network may take to serve every key's newest value after healing. */
const HEAL_BOUND_MS = 10_000;

const SEED = Number(process.env.RING_TEST_SEED ?? Math.floor(Math.random() * 2 ** 32));
const random = seededRandom(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

after(cleanupAll);

/** Acknowledged PUTs of version `counter` of each key through random nodes of `via`. */
async function writeAll(keys: readonly CounterKey[], counter: number, via: readonly NsNode[]) {
  const acked = await Promise.all(
    keys.map(async (k) => {
      const client = await pick(via)
        .api()
        .catch(() => undefined);
      const ok =
        client !== undefined && (await ackedPut(client, k.key, counterValue(k.label, counter)));
      if (ok) k.min = counter;
      return ok;
    }),
  );
  return acked.filter(Boolean).length;
}

/** Resolves once a node of `watchers` logs, after `since`, a failed call to a node of `peers`. */
function noticed(watchers: readonly NsNode[], peers: readonly NsNode[], since: number) {
  const addrs = new Set(peers.map((p) => p.p2p));
  return Promise.any(
    watchers.map((w) =>
      w.proc.waitForLine(
        (l) =>
          Number(l.time) >= since &&
          l.msg === "peer failed, routing around it" &&
          addrs.has(String(l.peer)),
        DETECT_BOUND_MS,
      ),
    ),
  );
}

test(`writes on both sides of a partition survive the heal (seed ${SEED})`, {
  timeout: 90_000,
}, async (t) => {
  const why = netnsUnavailable();
  assert.equal(why, undefined, `this test needs root and ip netns: ${why}`);
  const lab = await NetnsLab.create(NODES);
  const nodes: NsNode[] = [];
  try {
    const opts = { stabilizeMs: STABILIZE_MS, replication: 3 };
    // The first starts the network; the others join through it at once.
    nodes.push(await startNsNode(lab, 0, opts));
    const bootstrappers = [nodes[0]!.p2p];
    const rest = Array.from({ length: NODES - 1 }, (_, i) =>
      startNsNode(lab, i + 1, { ...opts, bootstrappers }),
    );
    nodes.push(...(await Promise.all(rest)));
    await waitForSuccessors(nodes, 20_000);

    const key = (label: string): CounterKey => ({ key: keyOf(label), label, min: 0 });
    const tag = SEED % 100_000;
    const before = Array.from({ length: KEYS_BEFORE }, (_, i) => key(`pre-${tag}-${i}`));
    assert.equal(await writeAll(before, 1, nodes), KEYS_BEFORE, "every write before the cut");

    const order = shuffled(nodes, random);
    const minority = order.slice(0, MINORITY);
    const majority = order.slice(MINORITY);
    const cutAt = Date.now();
    await lab.partition(minority.map((n) => n.index));
    await Promise.all([noticed(majority, minority, cutAt), noticed(minority, majority, cutAt)]);
    t.diagnostic(
      `cut off ${minority.join(", ")}; both sides noticed after ${Date.now() - cutAt} ms`,
    );

    const sides = [
      { name: "minority", via: minority, fresh: "min", overwrite: before.slice(0, OVERWRITES) },
      {
        name: "majority",
        via: majority,
        fresh: "maj",
        overwrite: before.slice(OVERWRITES, 2 * OVERWRITES),
      },
    ];
    const during: CounterKey[] = [];
    const report: string[] = [];
    await Promise.all(
      sides.map(async (s) => {
        const fresh = Array.from({ length: KEYS_DURING }, (_, i) => key(`${s.fresh}-${tag}-${i}`));
        const [created, overwritten] = await Promise.all([
          writeAll(fresh, 1, s.via),
          writeAll(s.overwrite, 2, s.via),
        ]);
        during.push(...fresh.filter((k) => k.min > 0));
        report.push(`${s.name}: ${created} new keys, ${overwritten} overwrites acknowledged`);
      }),
    );
    t.diagnostic(`while cut off: ${report.join("; ")}`);
    assert.ok(during.length > 0, "no write acknowledged on either side while cut off");

    const healedAt = performance.now();
    await lab.heal();
    const checked = [...before, ...during];
    let last: string[] = [];
    const { elapsedMs, firstMisses } = await pollUntilNoMisses(
      `every acknowledged key's newest value through all ${NODES} nodes after the heal`,
      HEAL_BOUND_MS,
      async () => {
        last = await staleReads(nodes, checked);
        return last;
      },
    ).catch((err: Error) => {
      throw new Error(`${summarizeMisses(last)} of ${checked.length} checked; ${err.message}`);
    });
    t.diagnostic(
      `all ${checked.length} keys right everywhere ${Math.round(performance.now() - healedAt)} ms after the heal ` +
        `(${Math.round(elapsedMs)} ms of polling; first round ${firstMisses.length} wrong)`,
    );
  } catch (err) {
    const tails = nodes.map((n) => `--- ${n}:\n${n.proc.stderrTail(8)}`).join("\n");
    console.error(`failed (RING_TEST_SEED=${SEED}); node logs:\n${tails}`);
    throw err;
  } finally {
    await Promise.all(
      nodes.map(async (n) => {
        await n.dropApi();
        await n.proc.kill("SIGKILL");
      }),
    );
    lab.destroy();
  }
});
