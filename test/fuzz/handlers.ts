// Fuzz target (c): the peer handlers under a hostile peer. One case: a fresh
// 5-node simulated ring (SimRing, manual clock, seeded), and a sequence of
// schema-valid requests of every RPC type from an extra SimTransport that is
// not a member and never serves (addresses it names: members, itself, unknown
// nodes, anything the schema allows); some arrive while four of the nodes
// are still joining. The ring must form; then, after it had time to repair:
// - no request made a handler crash (an error reply other than a deliberate
//   refusal), got a malformed reply, or went unanswered;
// - no unhandled rejection or uncaught exception happened;
// - every node answers ping;
// - a client PUT through one node, then a GET through another, return the
//   value (the control, on a key the hostile peer never touches).

import fc from "fast-check";
import type { ChordNode } from "../../src/chord/chord-node.js";
import { PeerCallError, type PeerTransport } from "../../src/ports.js";
import { drainMicrotasks } from "../../src/sim/index.js";
import type { RpcName } from "../../src/wire/peer.js";
import { SimRing } from "../sim/sim-ring.js";
import {
  type HostileRequest,
  type HostileWorld,
  hostileRequests,
  NODE_RPC_NAMES,
} from "./arbitraries.js";
import { checkPrototypes, describeError, FuzzFailure } from "./decoders.js";

export const RING_SIZE = 5;
const EPOCH_MS = 1_700_000_000_000; // ManualClock's default epoch
/** Simulated time each hostile request may take before it counts as unanswered. */
const CALL_TIMEOUT_MS = 60_000;
/** Simulated time the ring gets to repair after the last hostile request. */
export const REPAIR_MS = 20_000;
const CONTROL_KEY = Buffer.from("ringdht fuzz: the control key :)");

/** SimRing names its nodes n0:7000, n1:7000, ... */
export const WORLD: HostileWorld = {
  members: Array.from({ length: RING_SIZE }, (_, i) => `n${i}:7000`),
  unknown: [
    ...Array.from({ length: 6 }, (_, i) => `n${RING_SIZE + i}:7000`),
    "n0:7001",
    "10.0.0.1:7000",
    "[::1]:7000",
  ],
  hostile: "hostile:6666",
  epochMs: EPOCH_MS,
  reservedKeys: [CONTROL_KEY],
};

/** Error replies that are refusals by design, not crashes. */
const REFUSALS = [
  /^not in the ring yet$/,
  /^hop limit reached resolving [0-9a-f]{8}$/,
  /^no live route towards [0-9a-f]{8}$/,
  // Hostile-peer defenses: taking over a range costs a proof of work, and claims are checked.
  /^admission required$/,
  /^proof-of-work refused$/,
  /^you are not between my predecessor and me$/,
];
/**
 * Failures of a handler's own calls it may pass on (splitNode to a node that does
 * not exist). Not "remote" or "protocol": those would hide another node's bug.
 */
const PASSED_ON = new Set(["unreachable", "timeout", "closed"]);

export interface HandlerStats {
  rings: number;
  requests: number;
  byRpc: Record<string, number>;
  outcomes: Record<string, number>;
  /** Rings not consistent again REPAIR_MS after the attack (information, not a failure). */
  unconverged: number;
}

export const newHandlerStats = (): HandlerStats => ({
  rings: 0,
  requests: 0,
  byRpc: Object.fromEntries(NODE_RPC_NAMES.map((n) => [n, 0])),
  outcomes: {},
  unconverged: 0,
});

// Unhandled rejections and uncaught exceptions, wherever they come from.
const trapped: string[] = [];
let trapInstalled = false;
function installTrap(): void {
  if (trapInstalled) return;
  trapInstalled = true;
  process.on("unhandledRejection", (reason) =>
    trapped.push(`unhandled rejection: ${describeError(reason)}`),
  );
  process.on("uncaughtException", (err) =>
    trapped.push(`uncaught exception: ${describeError(err)}`),
  );
}

function checkTrap(when: string): void {
  if (trapped.length > 0) {
    const all = trapped.splice(0);
    throw new FuzzFailure(`${when}: ${all.join("; ")}`);
  }
}

export interface HandlerCase {
  ringSeed: number;
  /** Requests that arrive while 4 of the 5 nodes are joining (a few ms apart). */
  whileJoining: HostileRequest[];
  /** Requests once the ring has formed. */
  requests: HostileRequest[];
}

/**
 * Inputs left out by default because they hit a known, unfixed issue (see
 * docs/fuzzing.md); FUZZ_KNOWN_ISSUES=1 puts them back in.
 * - A `leaving` that names a node's only successor as the leaver, with an empty
 *   list, sent while the node joins: the node ends up alone, with no
 *   predecessor and unknown to the ring, and never rejoins (a split brain
 *   from one spoofed message).
 */
export const includeKnownIssues = (): boolean => process.env.FUZZ_KNOWN_ISSUES === "1";

export const handlerCase = (
  minRequests: number,
  maxRequests: number,
): fc.Arbitrary<HandlerCase> => {
  const whileJoining = hostileRequests(WORLD, {
    names: NODE_RPC_NAMES,
    maxGapMs: 5,
  });
  return fc.record(
    {
      ringSeed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      whileJoining: fc.oneof(
        fc.constant<HostileRequest[]>([]),
        fc.array(whileJoining, { maxLength: 20 }),
      ),
      requests: fc.array(hostileRequests(WORLD), {
        minLength: minRequests,
        maxLength: maxRequests,
        size: "max",
      }),
    },
    { noNullPrototype: true },
  );
};

/** How one hostile request ended, or why it shows a bug. */
function classify(name: RpcName, outcome: unknown): { label: string; bug?: string } {
  if (outcome === "ok") return { label: "ok" };
  if (!(outcome instanceof PeerCallError)) {
    return { label: "bug", bug: `${name} rejected with ${describeError(outcome)}` };
  }
  if (outcome.code === "remote") {
    // "<name> to <addr> failed there: <code>: <message>"
    const text = outcome.message.replace(/^.*? failed there: /, "");
    const colon = text.indexOf(": ");
    const code = text.slice(0, colon);
    const message = text.slice(colon + 2);
    if (REFUSALS.some((r) => r.test(message))) return { label: "refused" };
    if (PASSED_ON.has(code)) return { label: `passed-on-${code}` };
    return { label: "bug", bug: `${name}: the handler threw: ${text}` };
  }
  return { label: "bug", bug: `${name}: ${outcome.code}: ${outcome.message}` };
}

async function stopAll(ring: SimRing, hostile: PeerTransport): Promise<void> {
  for (const node of ring.nodes) await node.stop();
  await hostile.close();
  await drainMicrotasks();
}

/** Runs one case; throws FuzzFailure (or whatever escaped the simulation) on a bug. */
export async function checkHandlerCase(
  c: HandlerCase,
  stats: HandlerStats = newHandlerStats(),
): Promise<void> {
  installTrap();
  trapped.splice(0);
  // One node creates the ring, the others join through it at once, under attack.
  const ring = new SimRing(c.ringSeed);
  await ring.spawn().started;
  let joined = false;
  void Promise.all(
    Array.from({ length: RING_SIZE - 1 }, () => ring.spawn(ring.nodes[0]).started),
  ).then(() => {
    joined = true;
  });
  const hostile = ring.net.transport(WORLD.hostile);
  const bugs: string[] = [];
  let open = 0;
  const sent: Promise<void>[] = [];
  const fire = async (reqs: readonly HostileRequest[]) => {
    for (const req of reqs) {
      if (req.gapMs > 0) await ring.clock.advance(req.gapMs);
      const to = WORLD.members[req.to]!;
      open++;
      sent.push(
        hostile
          .call(to, req.name, req.body as never, CALL_TIMEOUT_MS)
          .then(
            () => "ok" as unknown,
            (err: unknown) => err,
          )
          .then((outcome) => {
            open--;
            const { label, bug } = classify(req.name, outcome);
            stats.outcomes[label] = (stats.outcomes[label] ?? 0) + 1;
            if (bug !== undefined) bugs.push(`${bug} (request to ${to})`);
          }),
      );
      stats.requests++;
      stats.byRpc[req.name] = (stats.byRpc[req.name] ?? 0) + 1;
    }
  };
  try {
    await fire(c.whileJoining);
    if (!(await ring.clock.runUntil(() => joined, 120_000))) {
      throw new FuzzFailure("the nodes did not finish joining");
    }
    if ((await ring.converge(60_000)) < 0) throw new FuzzFailure("the ring did not form");
    await fire(c.requests);
    await ring.clock.runUntil(() => open === 0, CALL_TIMEOUT_MS + 1000);
    if (open > 0) bugs.push(`${open} requests never settled`);
    await Promise.all(sent);
    if (bugs.length > 0) throw new FuzzFailure(bugs.join("\n"));
    checkTrap("during the attack");

    await ring.clock.advance(REPAIR_MS);
    checkTrap("while the ring repaired");
    if (!ring.consistent()) stats.unconverged++;

    // Every node answers ping.
    const pings = await ring.settle(
      Promise.all(
        WORLD.members.map((m) =>
          hostile.call(m, "ping", {}, 5_000).then(
            () => undefined,
            (err: unknown) => `${m}: ${describeError(err)}`,
          ),
        ),
      ),
      10_000,
    );
    const silent = pings.filter((p) => p !== undefined);
    if (silent.length > 0) throw new FuzzFailure(`no ping reply: ${silent.join("; ")}`);

    // The control: a client PUT through one node, then a GET through another.
    const nodes: ChordNode[] = ring.nodes;
    const writer = nodes[c.ringSeed % RING_SIZE]!;
    const reader = nodes[(c.ringSeed + 1 + ((c.ringSeed >>> 8) % (RING_SIZE - 1))) % RING_SIZE]!;
    const value = Buffer.from(`control value of ring ${c.ringSeed}`);
    try {
      await ring.settle(writer.put({ key: CONTROL_KEY, value, ttl: 0, replication: 0 }), 60_000);
    } catch (err) {
      throw new FuzzFailure(`control PUT via ${writer.self.addr} failed: ${describeError(err)}`);
    }
    let read: Buffer | undefined;
    try {
      read = await ring.settle(reader.get(CONTROL_KEY), 60_000);
    } catch (err) {
      throw new FuzzFailure(`control GET via ${reader.self.addr} failed: ${describeError(err)}`);
    }
    if (read === undefined || !read.equals(value)) {
      const got = read === undefined ? "nothing" : JSON.stringify(read.toString());
      throw new FuzzFailure(`control GET via ${reader.self.addr} returned ${got}`);
    }
    checkTrap("during the control PUT/GET");
    checkPrototypes();
  } finally {
    await stopAll(ring, hostile);
    stats.rings++;
  }
  checkTrap("while the ring stopped");
}

export const handlerProperty = (minRequests: number, maxRequests: number, stats?: HandlerStats) =>
  fc.asyncProperty(handlerCase(minRequests, maxRequests), (c) => checkHandlerCase(c, stats));
