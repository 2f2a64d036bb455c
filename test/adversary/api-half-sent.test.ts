// Half-sent API messages: an attacker starts messages and never finishes them
// (a maximal PUT but for its last byte, a header cut short, bytes trickled
// too slowly), so each connection pins up to 65,535 bytes. Every such
// connection is closed once its message is older than the deadline, with one
// warning naming it; the node meanwhile serves its other clients and keeps
// its data. Controls: an idle connection with nothing half-sent outlives the
// deadline, and a slow but honest client that finishes in time is served.

import assert from "node:assert/strict";
import { after, afterEach, describe, test } from "node:test";
import { halfSentMaxPut, portOfLogged, portsOf, within } from "../harness/attack.js";
import { cleanupAll } from "../harness/cleanup.js";
import { memoryLogger } from "../harness/controlled-dht.js";
import { loopbackConfig, startInProcessNode } from "../harness/in-process.js";
import type { LogLine } from "../harness/process.js";
import { RawClient } from "../harness/raw-socket.js";
import { getMsg, keyOf, putMsg } from "../harness/wire.js";

/** Every test fails rather than hangs; teardown still runs (after hooks). */
const PER_TEST = { timeout: 20_000 };

const DEADLINE_MS = 300;
/** The deadline plus generous room for a loaded machine: the attack is bounded by this. */
const CLOSED_WITHIN_MS = DEADLINE_MS + 4_000;
/** Node's timers run on libuv's millisecond loop clock: one may fire a little early by performance.now(). */
const TIMER_SLACK_MS = 5;
const WARNING = "bad API input, closing connection";
const HELD = 20;
const HEADER_CUT = 10;
const TRICKLE = 5;
const TRICKLE_EVERY_MS = 50;

after(cleanupAll);

async function startNode(): Promise<{ port: number; lines: LogLine[] }> {
  const { log, lines } = memoryLogger();
  log.level = "info";
  const node = await startInProcessNode(loopbackConfig(), {
    log,
    api: { partialMessageTimeoutMs: DEADLINE_MS },
  });
  return { port: node.apiAddress.port, lines };
}

interface Attacker {
  client: RawClient;
  /** When its first byte was handed to the socket (the node's clock starts later). */
  startedAt: number;
  closedAt: Promise<number>;
}

async function attack(port: number, bytes: Buffer): Promise<Attacker> {
  const client = await RawClient.connect(port);
  const startedAt = performance.now();
  const closedAt = client.closed.then(() => performance.now());
  await client.write(bytes);
  return { client, startedAt, closedAt };
}

/** Sends a GET one byte every TRICKLE_EVERY_MS: always progressing, never done in time. */
async function trickle(port: number): Promise<Attacker> {
  const a = await attack(port, getMsg(keyOf("adv-trickle")).subarray(0, 1));
  const rest = getMsg(keyOf("adv-trickle")).subarray(1);
  let sent = 0;
  const timer = setInterval(() => {
    if (a.client.isClosed || sent >= rest.length) clearInterval(timer);
    else void a.client.write(rest.subarray(sent, ++sent)).catch(() => {});
  }, TRICKLE_EVERY_MS);
  void a.closedAt.then(() => clearInterval(timer));
  return a;
}

describe("half-sent API messages, in-process node", () => {
  afterEach(cleanupAll);

  test(
    `connections holding half-sent messages are closed ${DEADLINE_MS} ms after their first bytes; other clients are served throughout`,
    PER_TEST,
    async () => {
      const { port, lines } = await startNode();
      const keeper = await RawClient.connect(port);
      const key = keyOf("adv-half-sent-kept");
      const value = Buffer.from("stored before the attack");
      await keeper.write(putMsg(key, value));
      assert.deepEqual(await keeper.get(key), value);
      const idle = await RawClient.connect(port); // sends nothing at all

      const attackers: Attacker[] = [];
      for (let i = 0; i < HELD; i++) attackers.push(await attack(port, halfSentMaxPut()));
      for (let i = 0; i < HEADER_CUT; i++) {
        attackers.push(await attack(port, halfSentMaxPut().subarray(0, 2)));
      }
      for (let i = 0; i < TRICKLE; i++) attackers.push(await trickle(port));

      // (b) the keeper, in use during the attack, is answered all along.
      const allClosed = Promise.all(attackers.map((a) => a.closedAt));
      let attackOver = false;
      void allClosed.then(() => {
        attackOver = true;
      });
      let served = 0;
      while (!attackOver) {
        assert.deepEqual(await keeper.get(key), value, "keeper served during the attack");
        served++;
      }
      const closedAt = await within(CLOSED_WITHIN_MS, allClosed, "every attacker closed");
      assert.ok(served > 0);

      // (a) bounded: each closed, no earlier than the deadline, with one warning naming it.
      for (const [i, a] of attackers.entries()) {
        const held = closedAt[i]! - a.startedAt;
        assert.ok(
          held >= DEADLINE_MS - TIMER_SLACK_MS,
          `attacker ${i} closed after ${held.toFixed(1)} ms`,
        );
        assert.equal(a.client.bytesReceived, 0);
      }
      const warnings = lines.filter((l) => l.msg === WARNING);
      assert.equal(warnings.length, attackers.length, "one warning per attacker");
      assert.deepEqual(
        new Set(warnings.map((l) => portOfLogged(l.client))),
        portsOf(attackers.map((a) => a.client)),
      );
      for (const w of warnings) {
        assert.equal(w.level, 40);
        assert.match(String(w.reason), /^message incomplete 300 ms after its first bytes/);
      }
      assert.ok(
        warnings.some((w) => String(w.reason).includes("(65534 of 65535 bytes)")),
        "the held maximal PUT is named with its size",
      );

      // (b) data kept, the keeper and a newcomer served.
      assert.equal(keeper.isClosed, false);
      assert.deepEqual(await keeper.get(key), value);
      const newcomer = await RawClient.connect(port);
      assert.deepEqual(await newcomer.get(key), value);

      // (c) control: the idle connection outlived the deadline (it was opened
      // before every attacker) and is still served: the deadline is not an idle timeout.
      assert.equal(idle.isClosed, false, "an idle connection is not timed out");
      assert.deepEqual(await idle.get(key), value);
    },
  );

  test(
    "control: a slow but honest client that completes its message in time is served",
    PER_TEST,
    async () => {
      const { port, lines } = await startNode();
      const keeper = await RawClient.connect(port);
      const slow = await RawClient.connect(port);
      const key = keyOf("adv-slow-honest");
      const value = Buffer.alloc(60_000, 0x62);
      const put = putMsg(key, value);
      // Several messages, each split; the node has read each part before the next is sent.
      for (let round = 0; round < 3; round++) {
        const half = 10 + round * 1000;
        await slow.write(put.subarray(0, half));
        assert.equal(await keeper.get(keyOf("adv-probe")), undefined);
        await slow.write(Buffer.concat([put.subarray(half), getMsg(key).subarray(0, 5)]));
        assert.equal(await keeper.get(keyOf("adv-probe")), undefined);
        await slow.write(getMsg(key).subarray(5));
        const replies = await slow.waitForReplies(round + 1);
        assert.deepEqual(replies[round]?.value, value);
      }
      assert.equal(slow.isClosed, false);
      assert.equal(lines.filter((l) => l.msg === WARNING).length, 0, "no warning");
    },
  );
});
