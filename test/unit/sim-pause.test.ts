// The PAUSE fault of the simulation tier: a PausableClock defers a node's
// timers, SimNetwork.pause holds what reaches the node until resume, and runs
// with pauses replay exactly from their seed.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { PeerCallError, PeerHandlers } from "../../src/ports.js";
import { ManualClock } from "../../src/sim/manual-clock.js";
import { SimNetwork } from "../../src/sim/network.js";
import { PausableClock } from "../../src/sim/pausable-clock.js";
import { pick, seededRandom } from "../../src/sim/random.js";

const A = "10.0.0.1:4000";
const B = "10.0.0.2:4000";
const C = "10.0.0.3:4000";

describe("PausableClock", () => {
  test("timers due while paused fire on resume, late and in due order; now() keeps running", async () => {
    const base = new ManualClock(0);
    const clock = new PausableClock(base);
    const fired: string[] = [];
    const arm = (name: string, ms: number) =>
      clock.setTimeout(() => fired.push(`${name}@${clock.now()}`), ms);
    arm("b", 20);
    arm("a", 10);
    const cancelled = arm("x", 15);
    arm("late", 100);
    await base.advance(5);
    clock.pause();
    await base.advance(25);
    cancelled.cancel();
    assert.equal(clock.now(), 30, "the shared clock stopped with the node");
    assert.deepEqual(fired, []);
    assert.equal(clock.backlog, 2);
    clock.resume();
    assert.deepEqual(fired, ["a@30", "b@30"]);
    await base.advance(70);
    assert.deepEqual(fired.at(-1), "late@100");
    assert.equal(clock.backlog, 0);
  });

  test("run() holds work while paused and runs it after the overdue timers", async () => {
    const base = new ManualClock(0);
    const clock = new PausableClock(base);
    const order: string[] = [];
    clock.run(() => order.push("now"));
    clock.pause();
    clock.run(() => order.push("msg1"));
    clock.setTimeout(() => order.push("timer"), 1);
    clock.run(() => order.push("msg2"));
    await base.advance(10);
    assert.deepEqual(order, ["now"]);
    clock.resume();
    clock.resume();
    assert.deepEqual(order, ["now", "timer", "msg1", "msg2"]);
  });

  test("discard() forgets held work; the timers of a discarded paused clock never fire", async () => {
    const base = new ManualClock(0);
    const clock = new PausableClock(base);
    let ran = 0;
    clock.pause();
    clock.setTimeout(() => ran++, 1);
    clock.run(() => ran++);
    await base.advance(5);
    clock.discard();
    await base.advance(5);
    assert.equal(clock.backlog, 0);
    assert.equal(ran, 0);
  });
});

function countingHandlers(log: string[], name: string): PeerHandlers {
  const fail = async () => {
    throw new Error("not expected");
  };
  return {
    ping: async () => {
      log.push(name);
      return {};
    },
    getNode: fail,
    getNeighbours: fail,
    notify: fail,
    getValue: fail,
    insertValue: fail,
    storeReplicas: fail,
    splitNode: fail,
    leaving: fail,
    newSuccessor: fail,
    syncRange: fail,
    syncBuckets: fail,
    mergeHint: fail,
    admitChallenge: fail,
    admit: fail,
  };
}

async function network(seed = 1, latencyMs: [number, number] = [2, 2]) {
  const clock = new ManualClock(0);
  const net = new SimNetwork({ clock, random: seededRandom(seed) }, { latencyMs });
  const handled: string[] = [];
  const ends = new Map(
    [A, B, C].map((address) => {
      const end = net.endpoint(address);
      void end.transport.serve(countingHandlers(handled, address));
      return [address, end] as const;
    }),
  );
  const call = (from: string, to: string, timeoutMs: number) => {
    const box: { result?: string } = {};
    ends
      .get(from)!
      .transport.call(to, "ping", {}, timeoutMs)
      .then(
        () => {
          box.result = `ok@${clock.now()}`;
        },
        (err: PeerCallError) => {
          box.result = `${err.code}@${clock.now()}`;
        },
      );
    return box;
  };
  return { clock, net, handled, call, clockOf: (a: string) => ends.get(a)!.clock };
}

describe("SimNetwork.pause", () => {
  test("a request to a paused node is held and handled on resume; the others run on", async () => {
    const { clock, net, handled, call } = await network();
    net.pause(B);
    assert.equal(net.isPaused(B), true);
    assert.equal(net.isServing(B), true, "a stopped process still accepts connections");
    const patient = call(A, B, 1_000);
    const hasty = call(C, B, 50);
    const other = call(A, C, 50);
    await clock.advance(100);
    assert.deepEqual(handled, [C]);
    assert.equal(other.result, "ok@4");
    assert.equal(hasty.result, "timeout@50");
    assert.equal(patient.result, undefined);
    net.resume(B);
    assert.equal(net.isPaused(B), false);
    await clock.advance(10);
    assert.deepEqual(handled, [C, B, B], "held requests were not handled on resume");
    assert.equal(patient.result, "ok@102");
  });

  test("a paused node's replies wait; its overdue deadlines fire first on resume", async () => {
    const { clock, net, call } = await network();
    const inTime = call(B, A, 1_000);
    await clock.advance(1);
    net.pause(B);
    await clock.advance(49);
    assert.equal(inTime.result, undefined, "a reply reached a paused node");
    net.resume(B);
    await clock.advance(0);
    assert.equal(inTime.result, "ok@50");
    const overdue = call(B, A, 100);
    await clock.advance(1);
    net.pause(B);
    await clock.advance(299);
    assert.equal(overdue.result, undefined);
    net.resume(B);
    await clock.advance(0);
    assert.equal(overdue.result, "timeout@350", "the late reply beat the overdue deadline");
  });

  test("a paused node's own timers wait for resume", async () => {
    const { clock, net, clockOf } = await network();
    const fired: number[] = [];
    clockOf(B).setTimeout(() => fired.push(clock.now()), 10);
    clockOf(A).setTimeout(() => fired.push(-clock.now()), 10);
    net.pause(B);
    await clock.advance(1_000);
    assert.deepEqual(fired, [-10]);
    net.resume(B);
    assert.deepEqual(fired, [-10, 1_000]);
  });

  test("killing a paused node loses what it held: the caller times out, nothing is handled", async () => {
    const { clock, net, handled, call } = await network();
    net.pause(B);
    const held = call(A, B, 200);
    await clock.advance(50);
    net.kill(B);
    await clock.advance(200);
    assert.equal(held.result, "timeout@200");
    assert.deepEqual(handled, []);
    assert.equal(net.isServing(B), false);
    assert.throws(() => net.pause("10.9.9.9:1"), /no node/);
  });

  test("runs with pauses replay exactly from their seed", async () => {
    const run = async (seed: number) => {
      const { clock, net, call } = await network(seed, [1, 30]);
      const random = seededRandom(seed + 1000);
      const addresses = [A, B, C];
      const boxes = [];
      for (let step = 0; step < 40; step++) {
        boxes.push(call(pick(random, addresses), pick(random, addresses), 200));
        const target = pick(random, addresses);
        if (net.isPaused(target)) net.resume(target);
        else if (random() < 0.3) net.pause(target);
        await clock.advance(Math.floor(random() * 40));
      }
      for (const a of addresses) net.resume(a);
      await clock.advance(500);
      return boxes.map((b) => b.result);
    };
    const first = await run(5);
    assert.ok(first.every((r) => r !== undefined));
    assert.ok(
      first.some((r) => r?.startsWith("timeout")) && first.some((r) => r?.startsWith("ok")),
    );
    assert.deepEqual(await run(5), first);
    assert.notDeepEqual(await run(6), first);
  });
});
