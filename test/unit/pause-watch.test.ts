// The pause watch: nodes on one clock share one timer, and a pause reaches
// every node on that clock, and only those.

import assert from "node:assert/strict";
import { test } from "node:test";
import { PauseWatch } from "../../src/chord/pause-watch.js";
import { ManualClock } from "../../src/sim/manual-clock.js";
import { PausableClock } from "../../src/sim/pausable-clock.js";

const THRESHOLD = 2000;

test("watches on one clock share one timer; a pause reaches each of them", async () => {
  const base = new ManualClock(0);
  const clock = new PausableClock(base);
  const paused: string[] = [];
  const watches = ["a", "b", "c"].map(
    (name) => new PauseWatch(clock, THRESHOLD, (ms) => paused.push(`${name}:${ms >= THRESHOLD}`)),
  );
  for (const w of watches) w.start();
  assert.equal(base.pending, 1, "one timer for three watches");
  await base.advance(10_000);
  assert.deepEqual(paused, [], "no pause while the timers run on time");

  clock.pause();
  await base.advance(5_000);
  clock.resume();
  await base.advance(10);
  assert.deepEqual(paused.sort(), ["a:true", "b:true", "c:true"]);

  watches[0]!.stop();
  paused.length = 0;
  clock.pause();
  await base.advance(5_000);
  clock.resume();
  await base.advance(10);
  assert.deepEqual(paused.sort(), ["b:true", "c:true"], "a stopped watch hears nothing");

  watches[1]!.stop();
  watches[2]!.stop();
  assert.equal(base.pending, 0, "the last stop cancels the timer");
  watches[1]!.start();
  assert.equal(base.pending, 1, "a watch started again arms it again");
  watches[1]!.stop();
});

test("control: watches on different clocks have their own timers and pauses", async () => {
  const base = new ManualClock(0);
  const one = new PausableClock(base);
  const two = new PausableClock(base);
  const paused: string[] = [];
  const a = new PauseWatch(one, THRESHOLD, () => paused.push("one"));
  const b = new PauseWatch(two, THRESHOLD, () => paused.push("two"));
  a.start();
  b.start();
  assert.equal(base.pending, 2);
  one.pause();
  await base.advance(5_000);
  one.resume();
  await base.advance(10);
  assert.deepEqual(paused, ["one"]);
  a.stop();
  b.stop();
});
