// The simulation tier: the manual clock's ordering and draining, seeded
// randomness, and the in-memory network's delivery, failures and determinism.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PeerCallError, type PeerHandlers, type PeerTransport } from "../../src/ports.js";
import { ManualClock } from "../../src/sim/manual-clock.js";
import { SimNetwork, type SimNetworkOptions } from "../../src/sim/network.js";
import { pick, randomInt, seededRandom, shuffle } from "../../src/sim/random.js";
import { encodeReply, encodeRequest, type RpcName } from "../../src/wire/peer.js";

const EPOCH = 1_700_000_000_000;

describe("ManualClock", () => {
  test("starts at the given epoch (default 1_700_000_000_000) and moves only when advanced", async () => {
    assert.equal(new ManualClock().now(), EPOCH);
    const clock = new ManualClock(5_000);
    assert.equal(clock.now(), 5_000);
    await clock.advance(250);
    assert.equal(clock.now(), 5_250);
    await clock.advance(0);
    assert.equal(clock.now(), 5_250);
  });

  test("fires timers by due time, ties in insertion order, each at its own time", async () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    const arm = (name: string, ms: number) =>
      clock.setTimeout(() => fired.push(`${name}@${clock.now()}`), ms);
    arm("c", 30);
    arm("a1", 10);
    arm("b", 20);
    arm("a2", 10);
    arm("a3", 10);
    await clock.advance(25);
    assert.deepEqual(fired, ["a1@10", "a2@10", "a3@10", "b@20"]);
    assert.equal(clock.pending, 1);
    await clock.advance(5);
    assert.deepEqual(fired.at(-1), "c@30");
    assert.equal(clock.pending, 0);
  });

  test("delays round up to whole ms and are at least 1 ms", async () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), 0);
    clock.setTimeout(() => fired.push(clock.now()), -5);
    clock.setTimeout(() => fired.push(clock.now()), 2.2);
    await clock.advance(0);
    assert.equal(fired.length, 0);
    await clock.advance(3);
    assert.deepEqual(fired, [1, 1, 3]);
  });

  test("a timer armed by a timer fires within the same advance", async () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 7);
    }, 5);
    await clock.advance(12);
    assert.deepEqual(fired, [5, 12]);
  });

  test("cancel stops a timer; cancelling twice or after firing is harmless", async () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    const a = clock.setTimeout(() => fired.push("a"), 5);
    const b = clock.setTimeout(() => fired.push("b"), 5);
    clock.setTimeout(() => b.cancel(), 3);
    assert.equal(clock.pending, 3);
    a.cancel();
    a.cancel();
    assert.equal(clock.pending, 2);
    await clock.advance(10);
    assert.equal(fired.length, 0);
    const c = clock.setTimeout(() => fired.push("c"), 1);
    await clock.advance(1);
    c.cancel();
    assert.deepEqual(fired, ["c"]);
    assert.equal(clock.pending, 0);
  });

  test("many cancelled timers (compaction) leave the live ones intact and in order", async () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    const handles = Array.from({ length: 5_000 }, (_, i) =>
      clock.setTimeout(() => fired.push(i), 1 + (i % 50)),
    );
    handles.forEach((h, i) => {
      if (i % 5 !== 0) h.cancel();
    });
    assert.equal(clock.pending, 1_000);
    await clock.advance(50);
    const expected = Array.from({ length: 1_000 }, (_, k) => k * 5).sort(
      (x, y) => (x % 50) - (y % 50) || x - y,
    );
    assert.deepEqual(fired, expected);
    assert.equal(clock.pending, 0);
  });

  test("a throwing timer propagates out of advance; the rest of its tick fire on the next", async () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push("a"), 2);
    clock.setTimeout(() => {
      throw new Error("boom");
    }, 2);
    clock.setTimeout(() => fired.push("c"), 2);
    const d = clock.setTimeout(() => fired.push("d"), 2);
    d.cancel();
    await assert.rejects(clock.advance(5), /boom/);
    assert.deepEqual(fired, ["a"]);
    assert.equal(clock.now(), 2);
    assert.equal(clock.pending, 1);
    await clock.advance(3);
    assert.deepEqual(fired, ["a", "c"]);
    assert.equal(clock.now(), 5);
    assert.equal(clock.pending, 0);
  });

  test("a tick whose timers were all cancelled is skipped: runUntil sees no tick there", async () => {
    const clock = new ManualClock(0);
    clock.setTimeout(() => undefined, 3).cancel();
    let checks = 0;
    clock.setTimeout(() => undefined, 7);
    await clock.runUntil(() => {
      checks++;
      return false;
    }, 10);
    // once before the first tick, once after the tick at 7, once at the deadline
    assert.equal(checks, 3);
  });

  test("advance drains promise chains a timer starts before the next tick", async () => {
    const clock = new ManualClock(0);
    const steps: string[] = [];
    clock.setTimeout(async () => {
      await Promise.resolve();
      steps.push("1");
      await null;
      steps.push("2");
      await new Promise<void>((resolve) => queueMicrotask(resolve));
      steps.push(`3@${clock.now()}`);
    }, 1);
    clock.setTimeout(() => steps.push(`next@${clock.now()}`), 2);
    await clock.advance(1);
    assert.deepEqual(steps, ["1", "2", "3@1"]);
    await clock.advance(1);
    assert.deepEqual(steps, ["1", "2", "3@1", "next@2"]);
  });

  test("advance jumps idle gaps: a year of daily timers takes no time", async () => {
    const clock = new ManualClock(0);
    const DAY = 86_400_000;
    const fired: number[] = [];
    const daily = () =>
      clock.setTimeout(() => {
        fired.push(clock.now() / DAY);
        daily();
      }, DAY);
    daily();
    const started = performance.now();
    await clock.advance(365 * DAY + 5);
    assert.ok(performance.now() - started < 500, "advance walked every idle millisecond");
    assert.deepEqual(
      fired,
      Array.from({ length: 365 }, (_, i) => i + 1),
    );
    assert.equal(clock.now(), 365 * DAY + 5);
  });

  test("delays beyond 2^31-1 ms are clamped to it, as the system clock does", async () => {
    const clock = new ManualClock(0);
    let firedAt = -1;
    clock.setTimeout(() => {
      firedAt = clock.now();
    }, 2 ** 40);
    await clock.advance(2 ** 32);
    assert.equal(firedAt, 2 ** 31 - 1);
  });

  test("microtasks pending when advance starts settle at the time they were queued", async () => {
    const clock = new ManualClock(0);
    clock.setTimeout(() => {}, 50);
    let seenAt = -1;
    Promise.resolve()
      .then(() => undefined)
      .then(() => {
        seenAt = clock.now();
      });
    await clock.advance(100);
    assert.equal(seenAt, 0);
  });

  test("runUntil stops at the tick where the predicate came true", async () => {
    const clock = new ManualClock(0);
    let done = false;
    clock.setTimeout(async () => {
      await Promise.resolve();
      done = true;
    }, 40);
    clock.setTimeout(() => assert.fail("ran past the predicate"), 41);
    assert.equal(await clock.runUntil(() => done, 1_000), true);
    assert.equal(clock.now(), 40);
    assert.equal(clock.pending, 1);
  });

  test("runUntil gives up after maxMs with time at the deadline, and returns at once when already true", async () => {
    const clock = new ManualClock(0);
    clock.setTimeout(() => {}, 10);
    assert.equal(await clock.runUntil(() => false, 100), false);
    assert.equal(clock.now(), 100);
    assert.equal(await clock.runUntil(() => true, 100), true);
    assert.equal(clock.now(), 100);
  });

  test("two overlapping advances are refused", async () => {
    const clock = new ManualClock(0);
    const first = clock.advance(10);
    await assert.rejects(clock.advance(10), /already in progress/);
    await first;
    assert.equal(clock.now(), 10);
  });
});

describe("seeded randomness", () => {
  const take = (seed: number, n: number) => {
    const random = seededRandom(seed);
    return Array.from({ length: n }, () => random());
  };

  test("the same seed gives the same floats in [0, 1); another seed differs", () => {
    const a = take(7, 1_000);
    assert.deepEqual(take(7, 1_000), a);
    assert.notDeepEqual(take(8, 1_000), a);
    assert.ok(a.every((x) => x >= 0 && x < 1));
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
    assert.ok(new Set(a).size === a.length);
    assert.ok(
      a.some((x) => !Number.isInteger(x * 2 ** 32)),
      "floats carry no more than 32 bits",
    );
  });

  test("randomInt covers [min, max] inclusive; shuffle permutes; pick chooses a member", () => {
    const random = seededRandom(1);
    const seen = new Set(Array.from({ length: 500 }, () => randomInt(random, 3, 6)));
    assert.deepEqual([...seen].sort(), [3, 4, 5, 6]);
    const items = Array.from({ length: 20 }, (_, i) => i);
    const shuffled = shuffle(random, [...items]);
    assert.notDeepEqual(shuffled, items);
    assert.deepEqual(
      [...shuffled].sort((x, y) => x - y),
      items,
    );
    assert.ok(items.includes(pick(random, items)));
    assert.throws(() => pick(random, []), RangeError);
  });
});

// --- SimNetwork --------------------------------------------------------------

const A = "10.0.0.1:4000";
const B = "10.0.0.2:4000";
const C = "10.0.0.3:4000";

function handlers(overrides: Partial<PeerHandlers> = {}): PeerHandlers {
  const unused = (name: RpcName) => async () => {
    throw new Error(`${name} not expected`);
  };
  return {
    ping: async () => ({}),
    getNode: unused("getNode"),
    getNeighbours: unused("getNeighbours"),
    notify: unused("notify"),
    getValue: unused("getValue"),
    insertValue: unused("insertValue"),
    storeReplicas: unused("storeReplicas"),
    splitNode: unused("splitNode"),
    leaving: unused("leaving"),
    newSuccessor: unused("newSuccessor"),
    syncRange: unused("syncRange"),
    syncBuckets: unused("syncBuckets"),
    mergeHint: unused("mergeHint"),
    admitChallenge: unused("admitChallenge"),
    admit: unused("admit"),
    ...overrides,
  };
}

async function setup(opts: SimNetworkOptions = {}, seed = 1) {
  const clock = new ManualClock();
  const net = new SimNetwork({ clock, random: seededRandom(seed) }, opts);
  const nodes = new Map<string, PeerTransport>();
  for (const address of [A, B, C]) {
    const transport = net.transport(address);
    await transport.serve(handlers());
    nodes.set(address, transport);
  }
  return { clock, net, at: (address: string) => nodes.get(address)! };
}

type Outcome<T> = ({ ok: true; value: T } | { ok: false; error: unknown }) & { ms: number };

/** Watches `call` from now on: its outcome and the simulated ms it took, once settled. */
function observe<T>(clock: ManualClock, call: Promise<T>): { outcome?: Outcome<T> } {
  const started = clock.now();
  const box: { outcome?: Outcome<T> } = {};
  call.then(
    (value) => {
      box.outcome = { ok: true, value, ms: clock.now() - started };
    },
    (error: unknown) => {
      box.outcome = { ok: false, error, ms: clock.now() - started };
    },
  );
  return box;
}

/** Runs `call` to completion on the manual clock. */
async function settle<T>(
  clock: ManualClock,
  call: Promise<T>,
  maxMs = 60_000,
): Promise<Outcome<T>> {
  const box = observe(clock, call);
  assert.ok(await clock.runUntil(() => box.outcome !== undefined, maxMs), "call never settled");
  return box.outcome!;
}

function failure(result: { ok: boolean; error?: unknown }): PeerCallError {
  assert.equal(result.ok, false, "expected the call to fail");
  assert.ok(result.error instanceof PeerCallError, `not a PeerCallError: ${String(result.error)}`);
  return result.error;
}

describe("SimNetwork", () => {
  const pos = Buffer.alloc(32, 0xab);
  const answer = { node: C, succs: [C, A], hops: 3 };

  test("getNode round trip through the codec: exact values, latency within [2*min, 2*max]", async () => {
    const clock = new ManualClock();
    const net = new SimNetwork({ clock, random: seededRandom(3) }, { latencyMs: [3, 7] });
    const a = net.transport(A);
    const b = net.transport(B);
    const received: unknown[] = [];
    await b.serve(
      handlers({
        getNode: async (body) => {
          received.push(body);
          return answer;
        },
      }),
    );
    const roundTrips = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const result = await settle(clock, a.call(B, "getNode", { pos, hops: 2 }, 1_000));
      assert.deepEqual(result, { ok: true, value: answer, ms: result.ms });
      assert.ok(result.ms >= 6 && result.ms <= 14, `round trip of ${result.ms} ms`);
      roundTrips.add(result.ms);
    }
    assert.ok(roundTrips.size >= 4, `latency hardly varies: ${[...roundTrips]}`);
    assert.equal(received.length, 20);
    const first = received[0] as { pos: Buffer; hops: number };
    assert.ok(Buffer.isBuffer(first.pos) && first.pos.equals(pos) && first.pos !== pos);
    assert.equal(first.hops, 2);
    const frames =
      encodeRequest(0, "getNode", { pos, hops: 2 }).length + encodeReply(0, answer).length;
    assert.deepEqual(net.stats, {
      sent: 40,
      delivered: 40,
      dropped: 0,
      lost: 0,
      refused: 0,
      bytes: 20 * frames,
    });
  });

  test("a call to a killed node is refused: unreachable after one latency", async () => {
    const { clock, net, at } = await setup({ latencyMs: [4, 4] });
    assert.equal((await settle(clock, at(A).call(B, "ping", {}, 1_000))).ok, true);
    net.kill(B);
    assert.equal(net.isServing(B), false);
    const result = await settle(clock, at(A).call(B, "ping", {}, 1_000));
    assert.equal(failure(result).code, "unreachable");
    assert.equal(result.ms, 4);
    const nobody = await settle(clock, at(A).call("10.9.9.9:1", "ping", {}, 1_000));
    assert.equal(failure(nobody).code, "unreachable");
    assert.equal(net.stats.refused, 2);
  });

  test("kill loses requests in flight (caller times out) and fails the victim's own calls 'closed'", async () => {
    const { clock, net, at } = await setup({ latencyMs: [5, 5] });
    let handled = 0;
    const D = "10.0.0.4:4000";
    await net.transport(D).serve(
      handlers({
        ping: async () => {
          handled++;
          return {};
        },
      }),
    );
    const calls = [
      at(A).call(D, "ping", {}, 300),
      at(A).call(B, "ping", {}, 300),
      at(B).call(C, "ping", {}, 300),
    ].map((call) => observe(clock, call));
    await clock.advance(2);
    net.kill(D);
    net.kill(B);
    assert.ok(await clock.runUntil(() => calls.every((c) => c.outcome !== undefined), 1_000));
    const [toD, toB, fromB] = calls.map((c) => c.outcome!);
    assert.equal(failure(toD!).code, "timeout");
    assert.equal(toD!.ms, 300);
    assert.equal(failure(toB!).code, "timeout");
    assert.equal(failure(fromB!).code, "closed");
    assert.equal(fromB!.ms, 2);
    assert.equal(handled, 0);
    // two requests reached dead nodes; C's reply to B's abandoned call found B dead
    assert.equal(net.stats.lost, 3);
    assert.equal(failure(await settle(clock, at(B).call(C, "ping", {}, 300))).code, "closed");
  });

  test("the reply of a handler whose node was killed meanwhile is lost", async () => {
    const { clock, net, at } = await setup({ latencyMs: [2, 2] });
    const D = "10.0.0.4:4000";
    let release = () => {};
    await net.transport(D).serve(
      handlers({
        ping: () =>
          new Promise((resolve) => {
            release = () => resolve({});
          }),
      }),
    );
    const call = observe(clock, at(A).call(D, "ping", {}, 100));
    await clock.advance(5);
    net.kill(D);
    release();
    assert.ok(await clock.runUntil(() => call.outcome !== undefined, 1_000));
    assert.equal(failure(call.outcome!).code, "timeout");
    assert.deepEqual(
      { delivered: net.stats.delivered, lost: net.stats.lost },
      { delivered: 1, lost: 1 },
    );
  });

  test("a killed address can host a new transport; a live one cannot be taken twice", async () => {
    const { clock, net, at } = await setup();
    assert.throws(() => net.transport(B), /in use/);
    net.kill(B);
    const reborn = net.transport(B);
    assert.equal(failure(await settle(clock, at(A).call(B, "ping", {}, 100))).code, "unreachable");
    await reborn.serve(handlers());
    assert.equal((await settle(clock, at(A).call(B, "ping", {}, 100))).ok, true);
  });

  test("a partition times calls out at the caller's deadline; heal restores them", async () => {
    const { clock, net, at } = await setup();
    net.partition([A], [B, C]);
    const before = net.stats;
    for (const [from, to] of [
      [A, B],
      [C, A],
    ] as const) {
      const result = await settle(clock, at(from).call(to, "ping", {}, 250));
      assert.equal(failure(result).code, "timeout");
      assert.equal(result.ms, 250);
    }
    assert.equal(net.stats.delivered, before.delivered, "a message crossed the cut");
    assert.equal(net.stats.dropped, before.dropped + 2);
    assert.equal((await settle(clock, at(B).call(C, "ping", {}, 250))).ok, true);
    net.heal();
    const healed = await settle(clock, at(A).call(B, "ping", {}, 250));
    assert.equal(healed.ok, true);
    assert.ok(healed.ms <= 10);
  });

  test("a lost reply (one-way link drop) times out although the handler ran", async () => {
    const { clock, net, at } = await setup();
    let handled = 0;
    const d = net.transport("10.0.0.4:4000");
    await d.serve(
      handlers({
        ping: async () => {
          handled++;
          return {};
        },
      }),
    );
    net.setLinkDrop("10.0.0.4:4000", A, 1);
    assert.equal(
      failure(await settle(clock, at(A).call("10.0.0.4:4000", "ping", {}, 100))).code,
      "timeout",
    );
    assert.equal(handled, 1);
    assert.equal((await settle(clock, d.call(B, "ping", {}, 100))).ok, true);
    net.setLinkDrop("10.0.0.4:4000", A, undefined);
    assert.equal((await settle(clock, at(A).call("10.0.0.4:4000", "ping", {}, 100))).ok, true);
    net.setDrop(1);
    assert.equal(failure(await settle(clock, at(A).call(B, "ping", {}, 100))).code, "timeout");
    assert.throws(() => net.setDrop(1.5), RangeError);
  });

  test("a handler's throw (async or not) becomes 'remote' with its message", async () => {
    const clock = new ManualClock();
    const net = new SimNetwork({ clock, random: seededRandom(1) });
    const a = net.transport(A);
    await net.transport(B).serve(
      handlers({
        ping: async () => {
          throw new Error("disk on fire");
        },
        notify: () => {
          throw Object.assign(new Error("no thanks"), { code: "busy" });
        },
      }),
    );
    const thrown = failure(await settle(clock, a.call(B, "ping", {}, 100)));
    assert.equal(thrown.code, "remote");
    assert.match(thrown.message, /disk on fire/);
    const sync = failure(await settle(clock, a.call(B, "notify", { from: A }, 100)));
    assert.equal(sync.code, "remote");
    assert.match(sync.message, /busy: no thanks/);
  });

  test("a reply body that breaks the reply schema is 'protocol' at the caller", async () => {
    const clock = new ManualClock();
    const net = new SimNetwork({ clock, random: seededRandom(1) });
    const a = net.transport(A);
    const bad = { node: "no-port", succs: [], hops: 1 } as unknown as typeof answer;
    await net.transport(B).serve(handlers({ getNode: async () => bad }));
    const result = failure(await settle(clock, a.call(B, "getNode", { pos, hops: 0 }, 100)));
    assert.equal(result.code, "protocol");
    assert.match(result.message, /malformed getNode reply/);
  });

  test("a request body that breaks the request schema is rejected by the callee: 'protocol'", async () => {
    const { clock, at } = await setup();
    const short = { pos: Buffer.alloc(31), hops: 0 };
    const result = failure(await settle(clock, at(A).call(B, "getNode", short, 100)));
    assert.equal(result.code, "protocol");
    assert.match(result.message, /malformed getNode request/);
  });

  test("close fails calls in flight and later calls with 'closed', stops serving, is idempotent", async () => {
    const { clock, net, at } = await setup();
    const inFlight = observe(clock, at(A).call(B, "ping", {}, 1_000));
    await at(A).close();
    await at(A).close();
    assert.equal(failure(inFlight.outcome!).code, "closed");
    assert.equal(failure(await settle(clock, at(A).call(B, "ping", {}, 100))).code, "closed");
    assert.equal(failure(await settle(clock, at(B).call(A, "ping", {}, 100))).code, "unreachable");
    await assert.rejects(at(A).serve(handlers()), PeerCallError);
    await clock.advance(20);
    assert.equal(clock.pending, 0, "the closed caller's deadline is still armed");
    assert.equal(net.stats.lost, 1, "the reply to the closed caller was not lost");
    assert.equal(net.isServing(A), false);
  });

  test("the same seed replays the same run; another seed does not", async () => {
    const run = async (seed: number) => {
      const { clock, at } = await setup({ latencyMs: [1, 20], dropRate: 0.2 }, seed);
      const start = clock.now();
      const log: string[] = [];
      const addresses = [A, B, C];
      const random = seededRandom(99);
      const calls = Array.from({ length: 60 }, (_, i) =>
        at(pick(random, addresses))
          .call(pick(random, addresses), "ping", {}, 100)
          .then(
            () => log.push(`${i} ok @${clock.now() - start}`),
            (err: PeerCallError) => log.push(`${i} ${err.code} @${clock.now() - start}`),
          ),
      );
      await clock.advance(200);
      await Promise.all(calls);
      return log;
    };
    const first = await run(11);
    assert.equal(first.length, 60);
    assert.ok(
      first.some((line) => line.includes("timeout")) && first.some((l) => l.includes("ok")),
    );
    assert.deepEqual(await run(11), first);
    assert.notDeepEqual(await run(12), first);
  });
});
