// PUTs right after `ringdht testnet` prints its ring line: every PUT that was
// acknowledged (GET on the same connection returned it) must be found through
// other nodes, at once and in every round of reads while the ring settles.

import assert from "node:assert/strict";
import { after, type TestContext, test } from "node:test";
import { ackedPut, shuffled } from "../harness/acked.js";
import { cleanupAll } from "../harness/cleanup.js";
import { readEverywhere, type Stored, seededRandom } from "../harness/cluster.js";
import type { PortEndpoint } from "../harness/endpoint.js";
import { startTestnet } from "../harness/testnet-process.js";
import { keyOf } from "../harness/wire.js";

const NODES = 20;
const KEYS = 500;
/** Each key is read back through this many nodes other than the one it was written through. */
const READERS_PER_KEY = 6;
/**
 * Reads go on in rounds this long after the PUTs: the ring line comes once
 * every successor and predecessor is right, but fingers, successor lists and
 * replicas may still be settling, and a key stored on the wrong node only goes
 * missing once they have.
 */
const CHECK_MS = 2_500;
/**
 * Fresh testnets, one after another: how much of the ring is still unsettled
 * at the ring line depends on how fast the nodes started (a busy machine
 * leaves less), so the scenario is repeated; every run must lose nothing.
 */
const RUNS = 3;

const SEED = Number(process.env.RING_TEST_SEED ?? Math.floor(Math.random() * 2 ** 32));
const random = seededRandom(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

after(cleanupAll);

interface Write {
  stored: Stored;
  via: PortEndpoint;
  readers: PortEndpoint[];
}

/** Reads each write through its readers (per node, pipelined; all nodes at once). */
async function misses(nodes: readonly PortEndpoint[], writes: readonly Write[]): Promise<string[]> {
  const perNode = await Promise.all(
    nodes.map((node) =>
      readEverywhere(
        [node],
        writes.filter((w) => w.readers.includes(node)).map((w) => w.stored),
      ),
    ),
  );
  return perNode.flat();
}

/** "t3: key-7 -> FAILURE" lines -> how many distinct keys. */
const distinctKeys = (lines: readonly string[]): number =>
  new Set(lines.map((m) => m.slice(m.indexOf(" ") + 1, m.indexOf(" ->")))).size;

/**
 * One testnet, PUTs at its ring line, reads in rounds for CHECK_MS. Returns
 * what went missing ("" when nothing did).
 */
async function scenario(t: TestContext, attempt: number): Promise<string> {
  const net = await startTestnet(NODES);
  try {
    t.diagnostic(
      `run ${attempt}: testnet up after ${Math.round(net.startMs)} ms: ${net.readyLine}`,
    );
    const writes: Write[] = Array.from({ length: KEYS }, (_, i) => {
      const via = pick(net.apis);
      const others = net.apis.filter((a) => a !== via);
      return {
        stored: {
          key: keyOf(`testnet-${SEED % 100_000}-${attempt}-${i}`),
          value: Buffer.from(`value ${i} of seed ${SEED}`),
          label: `key-${i}`,
        },
        via,
        readers: shuffled(others, random).slice(0, READERS_PER_KEY),
      };
    });
    const acked = await Promise.all(
      writes.map(async (w) => ackedPut(await w.via.api(), w.stored.key, w.stored.value)),
    );
    const done = writes.filter((_, i) => acked[i]);
    assert.ok(done.length >= KEYS / 2, `only ${done.length} of ${KEYS} PUTs acknowledged`);

    // Every round reads every key through its readers; a key missing in any round is lost.
    const missing = new Set<string>();
    const perRound: number[] = [];
    const start = performance.now();
    while (performance.now() - start < CHECK_MS) {
      const round = await misses(net.apis, done);
      perRound.push(distinctKeys(round));
      for (const m of round) missing.add(m);
    }
    t.diagnostic(
      `run ${attempt}: ${done.length} of ${KEYS} PUTs acknowledged; keys missing in each of ` +
        `${perRound.length} rounds of ${done.length * READERS_PER_KEY} reads: ${perRound.join(", ")}`,
    );
    const lines = [...missing];
    if (lines.length === 0) return "";
    return (
      `run ${attempt}: ${distinctKeys(lines)} of ${done.length} acknowledged keys missing through ` +
      `some node in some round (keys missing per round: ${perRound.join(", ")}):\n  ` +
      lines.slice(0, 15).join("\n  ")
    );
  } finally {
    await net.stop();
  }
}

test(`${KEYS} PUTs acknowledged right after testnet -n ${NODES} is up are all found (seed ${SEED})`, {
  timeout: 90_000,
}, async (t) => {
  for (let attempt = 1; attempt <= RUNS; attempt++) {
    const lost = await scenario(t, attempt);
    if (lost !== "") assert.fail(lost);
  }
});
