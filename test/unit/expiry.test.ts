import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { Expirer } from "../../src/chord/expirer.js";
import { deadlineOf, effectiveTtlSeconds, type TtlPolicy } from "../../src/chord/ttl.js";
import type { Clock, TimerHandle } from "../../src/ports.js";
import { keyId, Store, type Versioned } from "../../src/store/store.js";
import { VersionClock } from "../../src/store/version.js";

/** A clock that moves only when told to; timers fire in deadline order. */
class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Array<{ at: number; seq: number; fn: () => void; live: boolean }> = [];
  /** Every delay ever passed to setTimeout, in order. */
  readonly delays: number[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    this.delays.push(ms);
    const timer = { at: this.t + Math.max(ms, 0), seq: this.seq++, fn, live: true };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.live = false;
      },
    };
  }

  /** Timers armed and not yet fired or cancelled, as absolute times. */
  pending(): number[] {
    return this.timers
      .filter((t) => t.live)
      .map((t) => t.at)
      .sort((a, b) => a - b);
  }

  /** Moves time forward to `to`, firing every due timer at its own time. */
  advanceTo(to: number): void {
    for (let fired = 0; ; fired++) {
      // a timer that keeps re-arming itself without time moving would spin forever
      if (fired > 10_000) throw new Error(`runaway timers at ${this.t}`);
      const due = this.timers
        .filter((t) => t.live && t.at <= to)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      due.live = false;
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = Math.max(this.t, to);
    this.timers = this.timers.filter((t) => t.live);
  }
}

const policy: TtlPolicy = { defaultStoreSeconds: 3600, maxStoreSeconds: 86_400 };

describe("VersionClock", () => {
  test("next is the wall clock in ms x 1000 when ahead of the last version", () => {
    const c = new VersionClock();
    assert.equal(c.next(1000), 1_000_000);
    assert.equal(c.next(2000.9), 2_000_000);
  });

  test("next bumps past the last version when the clock stalls or goes back", () => {
    const c = new VersionClock();
    assert.equal(c.next(1000), 1_000_000);
    assert.equal(c.next(1000), 1_000_001);
    assert.equal(c.next(500), 1_000_002);
    assert.equal(c.next(1001), 1_001_000);
  });

  test("observe: later versions exceed every observed one", () => {
    const c = new VersionClock();
    c.observe(5_000_000);
    assert.equal(c.next(1000), 5_000_001);
    c.observe(10); // older: no effect
    assert.equal(c.next(1000), 5_000_002);
    assert.equal(c.next(6000), 6_000_000);
  });

  test("property: versions strictly increase and exceed everything observed", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ next: fc.integer({ min: 0, max: 4_000_000_000_000 }) }),
            fc.record({ observe: fc.integer({ min: 0, max: 4_000_000_000_000_000 }) }),
          ),
          { maxLength: 50 },
        ),
        (steps) => {
          const c = new VersionClock();
          let highest = 0;
          for (const step of steps) {
            if ("observe" in step) {
              c.observe(step.observe);
              highest = Math.max(highest, step.observe);
            } else {
              const v = c.next(step.next);
              assert.ok(v > highest, `${v} > ${highest}`);
              assert.ok(v >= step.next * 1000);
              assert.ok(Number.isSafeInteger(v));
              highest = v;
            }
          }
        },
      ),
    );
  });
});

describe("TTL policy", () => {
  test("ttl 0 means the default", () => {
    assert.equal(effectiveTtlSeconds(0, policy), 3600);
  });

  test("a ttl within the maximum is kept", () => {
    assert.equal(effectiveTtlSeconds(1, policy), 1);
    assert.equal(effectiveTtlSeconds(12, policy), 12);
    assert.equal(effectiveTtlSeconds(65_535, policy), 65_535);
  });

  test("a ttl above the maximum is clamped", () => {
    const tight: TtlPolicy = { defaultStoreSeconds: 30, maxStoreSeconds: 60 };
    assert.equal(effectiveTtlSeconds(61, tight), 60);
    assert.equal(effectiveTtlSeconds(60, tight), 60);
    assert.equal(effectiveTtlSeconds(65_535, tight), 60);
    assert.equal(effectiveTtlSeconds(0, tight), 30);
  });

  test("the deadline counts from receipt", () => {
    assert.equal(deadlineOf(12, 1_700_000_000_000, policy), 1_700_000_012_000);
    assert.equal(deadlineOf(0, 5000, policy), 5000 + 3_600_000);
    assert.equal(deadlineOf(40, 0, { ...policy, maxStoreSeconds: 10 }), 10_000);
  });

  test("ttl=1: still readable 0.5 s after receipt, gone right after 1 s", () => {
    const received = 1_700_000_000_000;
    const s = new Store(1 << 20);
    const k = keyId(Buffer.alloc(32, 1));
    const deadline = deadlineOf(1, received, policy);
    assert.equal(s.put(k, { value: Buffer.from("v"), version: 1, deadline }, received), "stored");
    assert.notEqual(s.get(k, received + 500), undefined);
    assert.notEqual(s.get(k, received + 1000), undefined);
    assert.equal(s.get(k, received + 1001), undefined);
  });

  test("property: deadline - receipt = min(ttl or default, max) seconds", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 2 ** 42 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        (ttl, received, a, b) => {
          const p: TtlPolicy = {
            defaultStoreSeconds: Math.min(a, b),
            maxStoreSeconds: Math.max(a, b),
          };
          const d = deadlineOf(ttl, received, p);
          const wanted = ttl === 0 ? p.defaultStoreSeconds : ttl;
          assert.equal(d - received, Math.min(wanted, p.maxStoreSeconds) * 1000);
          assert.ok(d - received >= 1000);
          if (ttl !== 0 && ttl <= p.maxStoreSeconds) assert.equal(d, received + ttl * 1000);
        },
      ),
    );
  });
});

describe("Expirer (manual clock)", () => {
  const k = (n: number) => keyId(Buffer.alloc(32, n));
  const rec = (deadline: number): Versioned => ({ value: Buffer.from("v"), version: 1, deadline });

  function setup(start = 0) {
    const clock = new ManualClock(start);
    const store = new Store(1 << 20);
    const swept: number[] = [];
    const expirer = new Expirer({ store, clock }, (n) => swept.push(n));
    return { clock, store, swept, expirer };
  }

  test("no timer is armed while the store is empty", () => {
    const { clock, expirer } = setup();
    expirer.touch();
    expirer.touch();
    assert.deepEqual(clock.pending(), []);
    assert.deepEqual(clock.delays, []);
  });

  test("arms for just after the earliest deadline, fires and sweeps, then disarms", () => {
    const { clock, store, swept, expirer } = setup(1000);
    store.put(k(1), rec(6000), clock.now());
    expirer.touch();
    assert.deepEqual(clock.pending(), [6001]);
    assert.deepEqual(clock.delays, [5001]);
    clock.advanceTo(6000);
    assert.equal(store.size, 1);
    assert.deepEqual(swept, []);
    clock.advanceTo(6001);
    assert.equal(store.size, 0);
    assert.equal(store.bytes, 0);
    assert.deepEqual(swept, [1]);
    // empty again: nothing armed, an idle node runs no timer
    assert.deepEqual(clock.pending(), []);
  });

  test("touch does not re-arm for a later deadline", () => {
    const { clock, store, expirer } = setup();
    store.put(k(1), rec(1000), 0);
    expirer.touch();
    store.put(k(2), rec(5000), 0);
    expirer.touch();
    assert.deepEqual(clock.pending(), [1001]);
    assert.equal(clock.delays.length, 1);
  });

  test("re-arms (cancelling the old timer) for an earlier deadline", () => {
    const { clock, store, swept, expirer } = setup();
    store.put(k(1), rec(5000), 0);
    expirer.touch();
    assert.deepEqual(clock.pending(), [5001]);
    clock.advanceTo(100);
    store.put(k(2), rec(2000), 100);
    expirer.touch();
    assert.deepEqual(clock.pending(), [2001]);
    assert.deepEqual(clock.delays, [5001, 1901]);
    clock.advanceTo(2001);
    assert.deepEqual(swept, [1]);
    assert.equal(store.get(k(2), 2001), undefined);
    assert.notEqual(store.get(k(1), 2001), undefined);
    // after firing it re-arms for the remaining record
    assert.deepEqual(clock.pending(), [5001]);
    clock.advanceTo(5001);
    assert.deepEqual(swept, [1, 1]);
    assert.equal(store.size, 0);
    assert.deepEqual(clock.pending(), []);
  });

  test("records sharing a deadline are swept together", () => {
    const { clock, store, swept, expirer } = setup();
    for (let i = 0; i < 5; i++) store.put(k(i), rec(300), 0);
    store.put(k(9), rec(900), 0);
    expirer.touch();
    clock.advanceTo(10_000);
    assert.deepEqual(swept, [5, 1]);
    assert.equal(store.size, 0);
    assert.deepEqual(clock.pending(), []);
  });

  test("a sweep that finds nothing (record deleted meanwhile) reports nothing", () => {
    const { clock, store, swept, expirer } = setup();
    store.put(k(1), rec(300), 0);
    expirer.touch();
    store.delete(k(1));
    clock.advanceTo(1000);
    assert.deepEqual(swept, []);
    assert.deepEqual(clock.pending(), []);
  });

  test("stop cancels the timer and later touches arm nothing", () => {
    const { clock, store, swept, expirer } = setup();
    store.put(k(1), rec(300), 0);
    expirer.touch();
    expirer.stop();
    assert.deepEqual(clock.pending(), []);
    store.put(k(2), rec(100), 0);
    expirer.touch();
    assert.deepEqual(clock.pending(), []);
    clock.advanceTo(1000);
    assert.deepEqual(swept, []);
    assert.equal(store.size, 2);
  });

  test("property: after running to the end, everything has been swept exactly once", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 10_000 }),
            ttl: fc.integer({ min: 0, max: 10_000 }),
          }),
          { maxLength: 30 },
        ),
        (puts) => {
          const { clock, store, swept, expirer } = setup();
          const sorted = [...puts].sort((a, b) => a.at - b.at);
          sorted.forEach((p, i) => {
            clock.advanceTo(p.at);
            store.put(k(i), rec(p.at + p.ttl), clock.now());
            expirer.touch();
            // never more than one timer at a time
            assert.ok(clock.pending().length <= 1);
          });
          clock.advanceTo(30_000);
          assert.equal(store.size, 0);
          assert.equal(
            swept.reduce((a, b) => a + b, 0),
            puts.length,
          );
          assert.deepEqual(clock.pending(), []);
        },
      ),
    );
  });
});
