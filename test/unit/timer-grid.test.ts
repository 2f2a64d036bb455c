// The system clock's timer grid (timer-grid.ts): long timers fire at most 1/8
// of their delay (and 256 ms) late, never early, and every timer due at one grid
// point runs in one turn of the event loop, in order, cancelled ones left out.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  GRID_MIN_MS,
  gridDeadline,
  gridStep,
  MAX_STEP_MS,
  TimerGrid,
} from "../../src/timer-grid.js";

test("a grid deadline is never early, and late by less than a step of at most delay / 8 and 256 ms", () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 1e9, noNaN: true }),
      fc.double({ min: GRID_MIN_MS, max: 2 ** 31 - 1, noNaN: true }),
      (now, delay) => {
        const at = gridDeadline(now, delay);
        const step = gridStep(delay);
        assert.ok(at >= now + delay, `${at} before ${now} + ${delay}`);
        assert.ok(at - (now + delay) < step, `${at} a step or more past ${now} + ${delay}`);
        assert.ok(step <= delay / 8 && step <= MAX_STEP_MS, `step ${step} for ${delay}`);
        assert.equal(at % step, 0);
      },
    ),
  );
});

test("timers set at different moments share a grid point when their deadlines fall in one step", () => {
  // 2,000-6,000 ms (an upkeep period jittered 0.5x-1.5x), set over 4 s: few points.
  const points = new Set<number>();
  for (let i = 0; i < 10_000; i++) points.add(gridDeadline(i * 0.4, 2000 + (4000 * i) / 10_000));
  assert.ok(points.size <= 40, `${points.size} grid points`);
});

/** A clock the test moves; Node's timer only wakes the grid, which then reads this. */
function steppedClock(): { now: () => number; set: (t: number) => void } {
  let t = 0;
  return { now: () => t, set: (v) => (t = v) };
}

test("timers due at one point run in one turn, in the order set; a cancelled one does not run", async () => {
  const clock = steppedClock();
  const grid = new TimerGrid(clock.now);
  const ran: string[] = [];
  let turn = 0;
  const at: Record<string, number> = {};
  const mark = (name: string) => () => {
    ran.push(name);
    at[name] = turn;
    ranOne();
  };
  // Steps of 2 ms at 16-23 ms delays: 17 and 18 both land on 18, 21 on 22.
  grid.set(mark("a"), 17);
  grid.set(mark("b"), 18);
  const cancelC = grid.set(mark("c"), 18);
  grid.set(mark("d"), 21);
  cancelC();
  assert.equal(grid.size, 3);
  clock.set(18);
  const bump = setInterval(() => turn++, 0);
  try {
    await until(() => ran.length === 2);
    assert.deepEqual(ran, ["a", "b"]);
    assert.equal(at.a, at.b, "one turn for one grid point");
    clock.set(30);
    await until(() => ran.length === 3);
    assert.deepEqual(ran, ["a", "b", "d"]);
    assert.equal(grid.size, 0);
  } finally {
    clearInterval(bump);
  }
});

test("a timer is not run before its point, even when Node's timer wakes the grid early", async () => {
  const clock = steppedClock();
  const grid = new TimerGrid(clock.now);
  let ran = false;
  grid.set(() => {
    ran = true;
    ranOne();
  }, 40); // point 40 (step 4)
  // Node's timer fires after about 40 ms of real time, but this clock still reads 10:
  // the grid re-arms for the rest instead of running the timer.
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(ran, false, "ran at 10 ms on the grid's clock");
  clock.set(40);
  await until(() => ran);
});

test("a timer that throws does not keep the others of its point from running", async () => {
  const clock = steppedClock();
  const grid = new TimerGrid(clock.now);
  const ran: number[] = [];
  const errors: unknown[] = [];
  const onError = (err: unknown) => {
    errors.push(err);
    ranOne();
  };
  const listeners = process.listeners("uncaughtException");
  process.removeAllListeners("uncaughtException");
  process.on("uncaughtException", onError);
  try {
    grid.set(() => {
      throw new Error("boom");
    }, 16);
    grid.set(() => {
      ran.push(2);
      ranOne();
    }, 16);
    clock.set(16);
    await until(() => ran.length === 1 && errors.length === 1);
    assert.deepEqual(ran, [2]);
    assert.match(String(errors[0]), /boom/);
  } finally {
    process.removeListener("uncaughtException", onError);
    for (const l of listeners) process.on("uncaughtException", l);
  }
});

test("the longest delay arms Node's timer within its limit (no overflow to 1 ms, no warning)", async () => {
  const clock = steppedClock();
  clock.set(1000.5); // a grid point past now + delay by nearly a step
  const grid = new TimerGrid(clock.now);
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on("warning", onWarning);
  try {
    const cancel = grid.set(() => assert.fail("a timer of 24.8 days ran"), 2 ** 31 - 1);
    // A warning is emitted on the next tick; an overflowed timer would fire within 1 ms.
    await new Promise((r) => setTimeout(r, 20));
    cancel();
    assert.deepEqual(
      warnings.map((w) => w.name),
      [],
    );
  } finally {
    process.removeListener("warning", onWarning);
  }
});

/** Waits until `cond` holds, checked whenever a timer of the test ran (`ranOne`), up to 5 s. */
async function until(cond: () => boolean): Promise<void> {
  const deadline = setTimeout(() => wake?.(new Error("timed out waiting")), 5000);
  try {
    while (!cond()) {
      await new Promise<void>((resolve, reject) => {
        wake = (err) => (err === undefined ? resolve() : reject(err));
      });
    }
  } finally {
    clearTimeout(deadline);
    wake = undefined;
  }
}

let wake: ((err?: Error) => void) | undefined;

/** Called by every timer the tests set: lets until() look again. */
function ranOne(): void {
  wake?.();
}
