// A Chord ring of real `ringdht node` processes on loopback: 10 nodes joined
// one after another, then, in order, data spread over the ring, an overwrite,
// two crashes (SIGKILL), a graceful leave (DHT SHUTDOWN) and three late
// joiners, each time every stored key read back through every live node.
// RING_TEST_SEED=<n> repeats the random choices (bootstrappers, values, which
// ring positions are killed or leave); ports, and so node IDs, differ per run.

import assert from "node:assert/strict";
import { after, before, describe, type TestContext, test } from "node:test";
import { cleanupAll } from "../harness/cleanup.js";
import {
  Cluster,
  type ClusterNode,
  pollUntilNoMisses,
  putAndRead,
  readEverywhere,
  type Stored,
  seededRandom,
} from "../harness/cluster.js";
import { keyOf } from "../harness/wire.js";

const NODES = 10;
const KEYS = 100;
const STABILIZE_MS = 200;
/** The scenario's bound for finding every key again after the second SIGKILL. */
const RECOVERY_BOUND_MS = 10_000;
/** Bound for polls after a graceful leave or a join. */
const SETTLE_BOUND_MS = 10_000;
/** The deliberate spacing between the two kills. */
const KILL_SPACING_MS = 2_500;

const SEED = Number(process.env.RING_TEST_SEED ?? Math.floor(Math.random() * 2 ** 32));
const random = seededRandom(SEED);
const pick = <T>(items: readonly T[]): T => {
  assert.ok(items.length > 0, "nothing to pick from");
  return items[Math.floor(random() * items.length)]!;
};
/** `length` pseudo-random bytes from the seeded generator. */
const bytes = (length: number): Buffer =>
  Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const cluster = new Cluster({ stabilizeMs: STABILIZE_MS, replication: 3 });
/** What every live node must return: key -> newest value. */
const stored = new Map<string, Stored>();
const storedList = (): Stored[] => [...stored.values()];
const remember = (s: Stored): void => {
  stored.set(s.key.toString("hex"), s);
};

after(async () => {
  await cluster.stop();
  await cleanupAll();
});

/** A test whose failure also prints every node's stderr tail. */
function step(name: string, timeout: number, fn: (t: TestContext) => Promise<void>): void {
  test(name, { timeout }, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      console.error(
        `${name} failed (RING_TEST_SEED=${SEED}); node logs:\n${cluster.stderrTails()}`,
      );
      throw err;
    }
  });
}

/** Reports a measurement (a diagnostic line of the test's result). */
function report(t: TestContext, text: string): void {
  t.diagnostic(text);
}

const nodeNames = (nodes: readonly ClusterNode[]): string => nodes.map((n) => n.name).join(" ");

describe(`a ring of ${NODES} node processes (seed ${SEED})`, () => {
  let n0: ClusterNode;

  before(
    async () => {
      const start = performance.now();
      try {
        n0 = await cluster.add();
        for (let i = 1; i < NODES; i++) await cluster.add([pick(cluster.live()).p2p]);
        // Joined one after another: wait on the logs until each node names its true successor.
        await cluster.waitForSuccessors(15_000);
      } catch (err) {
        console.error(`ring start failed (RING_TEST_SEED=${SEED}):\n${cluster.stderrTails()}`);
        throw err;
      }
      console.log(
        `# ring of ${NODES} formed in ${Math.round(performance.now() - start)} ms; order: ${nodeNames(cluster.ringOrder())}`,
      );
    },
    { timeout: 40_000 },
  );

  step("every key PUT through any node is found through every node", 30_000, async (t) => {
    // The ring has formed when a probe key PUT through node 0 reads back through every node.
    const probe: Stored = { key: keyOf("ring-probe"), value: bytes(24), label: "probe" };
    assert.deepEqual(await putAndRead(await n0.api(), probe.key, probe.value), probe.value);
    const formed = await pollUntilNoMisses("the probe key through every node", 10_000, () =>
      readEverywhere(cluster.live(), [probe]),
    );
    remember(probe);
    report(t, `probe readable everywhere after ${Math.round(formed.elapsedMs)} ms`);

    const keys: Stored[] = Array.from({ length: KEYS }, (_, i) => ({
      key: keyOf(`ring-key-${i}`),
      // One value of the largest size, the rest from 1 byte to 4 KiB.
      value: bytes(i === 0 ? 65_495 : 1 + Math.floor(random() * 4096)),
      label: `ring-key-${i}`,
    }));
    // Every PUT through a random node, confirmed by a GET on the same connection.
    const confirmed = await Promise.all(
      keys.map(async (s) => {
        const via = pick(cluster.live());
        const seen = await putAndRead(await via.api(), s.key, s.value);
        return seen?.equals(s.value)
          ? ""
          : `${s.label} via ${via.name}: ${seen?.length ?? "FAILURE"}`;
      }),
    );
    assert.deepEqual(
      confirmed.filter((c) => c !== ""),
      [],
      "PUTs not confirmed on their connection",
    );
    for (const s of keys) remember(s);

    const started = performance.now();
    const misses = await readEverywhere(cluster.live(), keys);
    report(
      t,
      `${keys.length * cluster.live().length} GETs through ${cluster.live().length} nodes in ${Math.round(performance.now() - started)} ms`,
    );
    assert.deepEqual(misses, [], "every key through every node, exact value");
  });

  step("an overwrite through one node is seen through all", 20_000, async () => {
    const a = pick(cluster.live());
    const b = pick(cluster.live().filter((n) => n !== a));
    const key = keyOf("ring-overwritten");
    const v1 = Buffer.from(`v1 written via ${a.name}`);
    const v2 = Buffer.from(`v2 written via ${b.name}`);
    assert.deepEqual(await putAndRead(await a.api(), key, v1), v1, `v1 via ${a.name}`);
    assert.deepEqual(await putAndRead(await b.api(), key, v2), v2, `v2 via ${b.name}`);
    const latest: Stored = { key, value: v2, label: "ring-overwritten" };
    assert.deepEqual(await readEverywhere(cluster.live(), [latest]), [], "v2 through every node");
    remember(latest); // later steps check the newest value survives too
  });

  step(
    "two nodes killed with SIGKILL a few seconds apart; every key found again within 10 s",
    40_000,
    async (t) => {
      // Neighbours on the ring, so the second victim held copies of the first one's range.
      const first = pick(
        cluster.ringOrder().filter((n) => n !== n0 && cluster.successorOf(n) !== n0),
      );
      const second = cluster.successorOf(first);
      report(t, `killing ${first}, then its successor ${second}`);

      await first.dropApi();
      assert.deepEqual(await first.proc.kill("SIGKILL"), { code: null, signal: "SIGKILL" });
      await sleep(KILL_SPACING_MS); // the scenario's spacing, not a wait for a condition
      await second.dropApi();
      const killedAt = performance.now();
      assert.deepEqual(await second.proc.kill("SIGKILL"), { code: null, signal: "SIGKILL" });

      const survivors = cluster.live();
      assert.equal(survivors.length, NODES - 2);
      const { rounds, firstMisses } = await pollUntilNoMisses(
        "every key through every survivor after two kills",
        RECOVERY_BOUND_MS + 5_000, // poll past the bound so a slow recovery is measured, then failed
        () => readEverywhere(survivors, storedList()),
      );
      const recoveryMs = performance.now() - killedAt;
      report(
        t,
        `every key found through all ${survivors.length} survivors ${Math.round(recoveryMs)} ms after the second kill (${rounds} polling rounds)`,
      );
      if (firstMisses.length > 0)
        report(
          t,
          `first round: ${firstMisses.length} misses, e.g. ${firstMisses.slice(0, 3).join("; ")}`,
        );
      assert.ok(
        recoveryMs <= RECOVERY_BOUND_MS,
        `recovery took ${Math.round(recoveryMs)} ms, over ${RECOVERY_BOUND_MS} ms`,
      );
    },
  );

  step("a node leaving through SHUTDOWN loses no key", 30_000, async (t) => {
    const leaver = pick(cluster.live().filter((n) => n !== n0));
    report(t, `DHT SHUTDOWN to ${leaver}`);
    const client = await leaver.api();
    await client.shutdown(); // resolves once the node closed the connection
    await leaver.dropApi();
    assert.deepEqual(await leaver.proc.finished(), { code: 0, signal: null }, "exit status 0");
    assert.ok(
      leaver.proc.lines.some((l) => l.msg === "handed over records"),
      `no handover logged:\n${leaver.proc.stderrTail()}`,
    );

    const survivors = cluster.live();
    const { elapsedMs } = await pollUntilNoMisses(
      "every key through every node after the leave",
      SETTLE_BOUND_MS,
      () => readEverywhere(survivors, storedList()),
    );
    report(
      t,
      `every key found through all ${survivors.length} nodes ${Math.round(elapsedMs)} ms after the exit`,
    );
  });

  step("three nodes joining after the data was stored serve every key", 40_000, async (t) => {
    const old = cluster.live();
    const joiners: ClusterNode[] = [];
    for (let i = 0; i < 3; i++) joiners.push(await cluster.add([pick(old).p2p]));
    report(t, `joined: ${joiners.map(String).join(", ")}`);

    const { elapsedMs } = await pollUntilNoMisses(
      "every key through each new node",
      SETTLE_BOUND_MS,
      () => readEverywhere(joiners, storedList()),
    );
    report(
      t,
      `every key found through the new nodes ${Math.round(elapsedMs)} ms after they joined`,
    );
    await pollUntilNoMisses("every key through the old nodes", SETTLE_BOUND_MS, () =>
      readEverywhere(old, storedList()),
    );
    assert.equal(cluster.live().length, NODES - 3 + 3);
  });
});
