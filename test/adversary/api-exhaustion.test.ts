// Connection exhaustion of the API: an attacker opens more idle connections
// than max_api_connections. The node keeps at most that many; each newcomer
// past the cap displaces the connection idle longest, never one in use, so
// new clients get in, clients using their connections keep them, and stored
// data stays. Controls: with the in-use window at 0 the long-lived client is
// the first to go (so its survival above is the rule at work, not luck), and
// when every connection is in use a newcomer is refused (so "a newcomer is
// served" is a check that can fail).

import assert from "node:assert/strict";
import { after, afterEach, describe, test } from "node:test";
import type { ApiTuning } from "../../src/net/api-server.js";
import { openConnections, portOfLogged, portsOf, within } from "../harness/attack.js";
import { cleanupAll } from "../harness/cleanup.js";
import { memoryLogger, startControlledServer } from "../harness/controlled-dht.js";
import { loopbackConfig, startInProcessNode } from "../harness/in-process.js";
import type { LogLine } from "../harness/process.js";
import { RawClient } from "../harness/raw-socket.js";
import { ApiTypes, getMsg, keyOf, putMsg } from "../harness/wire.js";

/** Every test fails rather than hangs; teardown still runs (after hooks). */
const PER_TEST = { timeout: 20_000 };
/** How long a close the node owes may take before the test says which one is missing. */
const CLOSE_WITHIN_MS = 5_000;

const CAP = 64;
const EXTRA = 50;
const EVICTED = "API connections full, closing the one idle longest";
const REFUSED = "API connections full and every one in use, refusing a new connection";

after(cleanupAll);

async function startNode(
  cap: number,
  api: ApiTuning = {},
): Promise<{ port: number; lines: LogLine[] }> {
  const { log, lines } = memoryLogger();
  log.level = "info";
  const node = await startInProcessNode(loopbackConfig(`max_api_connections = ${cap}`), {
    log,
    api,
  });
  return { port: node.apiAddress.port, lines };
}

const withMsg = (lines: LogLine[], msg: string): LogLine[] => lines.filter((l) => l.msg === msg);

/** A PUT then a GET of the same key on `client`: the value comes back. */
async function putAndRead(client: RawClient, label: string): Promise<void> {
  const key = keyOf(label);
  const value = Buffer.from(`value of ${label}`);
  await client.write(putMsg(key, value));
  assert.deepEqual(await client.get(key), value, `${label}: read back`);
}

describe("API connection exhaustion, in-process node", () => {
  afterEach(cleanupAll);

  test(
    `${CAP + EXTRA} idle connections with max_api_connections = ${CAP}: the idle longest give way, an in-use client and the data stay`,
    PER_TEST,
    async () => {
      const { port, lines } = await startNode(CAP);
      const keeper = await RawClient.connect(port);
      const key = keyOf("adv-kept-before-attack");
      const value = Buffer.from("stored before the attack");
      await keeper.write(putMsg(key, value));
      assert.deepEqual(await keeper.get(key), value);
      // The keeper's last request is older than every attacker's connection:
      // by idleness alone it would be the first to go.

      const attackers = await openConnections(port, CAP + EXTRA);
      // keeper + CAP + EXTRA connections: the EXTRA + 1 idle longest give way.
      const evicted = attackers.slice(0, EXTRA + 1);
      await within(
        CLOSE_WITHIN_MS,
        Promise.all(evicted.map((a) => a.closed)),
        `the ${EXTRA + 1} attackers idle longest closed`,
      );

      // A newcomer while the node is full gets in (displacing the next idle one) and is served.
      const newcomer = await RawClient.connect(port);
      await putAndRead(newcomer, "adv-newcomer-during-attack");
      assert.deepEqual(await newcomer.get(key), value, "data from before the attack");
      const displaced = attackers[EXTRA + 1]!;
      await within(CLOSE_WITHIN_MS, displaced.closed, "the newcomer displaced an idle attacker");

      // (a) bounded: never more than CAP connections; exactly the idle longest went.
      const open = attackers.filter((a) => !a.isClosed);
      assert.equal(open.length + 2, CAP, "keeper + newcomer + open attackers = the cap");
      assert.deepEqual(
        attackers.map((a) => a.isClosed),
        attackers.map((_, i) => i <= EXTRA + 1),
        "the oldest idle connections, in order, and no others",
      );
      const evictions = withMsg(lines, EVICTED);
      assert.deepEqual(
        new Set(evictions.map((l) => portOfLogged(l.client))),
        portsOf([...evicted, displaced]),
        "one log line per connection that gave way, naming it",
      );
      assert.equal(evictions.length, EXTRA + 2);
      assert.equal(withMsg(lines, REFUSED).length, 0, "nobody refused");

      // (b) the long-lived client in use kept its connection and its data.
      assert.equal(keeper.isClosed, false, "the in-use keeper never gives way");
      assert.deepEqual(await keeper.get(key), value);
      await putAndRead(keeper, "adv-keeper-after-attack");
      for (const a of open.slice(0, 3)) assert.deepEqual(await a.get(key), value);
      assert.equal(keeper.error, undefined);
    },
  );

  test(
    "control: with the in-use window at 0, the long-lived idle client is the first to give way",
    PER_TEST,
    async () => {
      const cap = 4;
      const { port, lines } = await startNode(cap, { inUseWindowMs: 0 });
      const keeper = await RawClient.connect(port);
      await putAndRead(keeper, "adv-control-keeper");
      const others = await openConnections(port, cap);
      await within(CLOSE_WITHIN_MS, keeper.closed, "the keeper, idle longest, gave way");
      assert.deepEqual(
        others.map((o) => o.isClosed),
        others.map(() => false),
      );
      assert.deepEqual(
        withMsg(lines, EVICTED).map((l) => portOfLogged(l.client)),
        [keeper.localPort],
      );
    },
  );

  test(
    "control: when every connection is in use, a newcomer is refused and nobody is evicted",
    PER_TEST,
    async () => {
      const cap = 8;
      const { port, lines } = await startNode(cap);
      const users = await openConnections(port, cap);
      const key = keyOf("adv-all-in-use");
      for (const [i, u] of users.entries()) {
        if (i === 0) await u.write(putMsg(key, Buffer.from("in use")));
        assert.deepEqual(await u.get(key), Buffer.from("in use"));
      }
      const newcomer = await RawClient.connect(port);
      await within(CLOSE_WITHIN_MS, newcomer.closed, "the newcomer refused");
      assert.equal(newcomer.bytesReceived, 0);
      const refusals = withMsg(lines, REFUSED);
      assert.deepEqual(
        refusals.map((l) => portOfLogged(l.client)),
        [newcomer.localPort],
      );
      assert.equal(refusals[0]?.level, 40, "a warning");
      assert.equal(withMsg(lines, EVICTED).length, 0);
      for (const u of users) assert.deepEqual(await u.get(key), Buffer.from("in use"));
    },
  );
});

describe("API connection exhaustion, controlled DHT", () => {
  afterEach(cleanupAll);

  test(
    "a connection with a GET in flight or a PUT under way never gives way, however long idle",
    PER_TEST,
    async () => {
      const sut = await startControlledServer({ maxConnections: 4, inUseWindowMs: 0 });
      const port = sut.address.port;
      const instant = keyOf("adv-instant");
      sut.dht.instant.set(instant.toString("latin1"), Buffer.from("now"));

      const getter = await RawClient.connect(port);
      await getter.write(getMsg(keyOf("adv-slow-get")));
      await sut.dht.waitForGets(1);
      const putter = await RawClient.connect(port);
      await putter.write(putMsg(keyOf("adv-slow-put"), Buffer.from("slow")));
      assert.deepEqual(await putter.get(instant), Buffer.from("now")); // the PUT has been read
      assert.equal(sut.dht.puts.length, 1);

      // Full: getter, putter (both busy, idle longest) and two idle ones.
      const idle = await openConnections(port, 2);
      const newcomers = await openConnections(port, 3);
      await within(
        CLOSE_WITHIN_MS,
        Promise.all([...idle, newcomers[0]!].map((c) => c.closed)),
        "the idle connections gave way, oldest first",
      );
      assert.equal(getter.isClosed || putter.isClosed, false, "busy connections kept");
      assert.deepEqual(
        newcomers.map((c) => c.isClosed),
        [true, false, false],
      );
      assert.equal(sut.server.connectionCount, 4);

      sut.dht.gets[0]!.resolve(Buffer.from("late"));
      const [reply] = await getter.waitForReplies(1);
      assert.equal(reply?.type, ApiTypes.Success);
      sut.dht.puts[0]!.resolve();
      assert.deepEqual(await putter.get(instant), Buffer.from("now"));
    },
  );
});
