// Misbehaviour scores and bans (src/chord/misbehaviour.ts) on a manual clock:
// weights add up per IP group, scores halve every half-life, the threshold
// bans the whole group for a period that doubles per ban up to the cap, bans
// end on time, memory stays bounded under a flood of sources, and scores
// match an exact model of the decay.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  type BanInfo,
  DEFAULT_MISBEHAVIOUR_OPTIONS,
  Misbehaviour,
  OFFENCE_WEIGHTS,
  type Offence,
} from "../../src/chord/misbehaviour.js";
import { ipGroup } from "../../src/ring/ip-group.js";
import { ManualClock } from "../../src/sim/manual-clock.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const OFFENCES = Object.keys(OFFENCE_WEIGHTS) as Offence[];

function setup(opts: Partial<typeof DEFAULT_MISBEHAVIOUR_OPTIONS> = {}) {
  const clock = new ManualClock();
  const events: BanInfo[] = [];
  const m = new Misbehaviour(opts, clock, (ban) => events.push(ban));
  return { clock, events, m };
}

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} != ${b}`);

describe("scores", () => {
  test("the defaults and the weight table", () => {
    assert.deepEqual(
      { ...DEFAULT_MISBEHAVIOUR_OPTIONS },
      {
        threshold: 100,
        decayHalfLifeMs: 10 * MIN,
        firstBanMs: 10 * MIN,
        maxBanMs: 24 * HOUR,
        maxTracked: 4096,
      },
    );
    assert.deepEqual(OFFENCES.sort(), [
      "failedProof",
      "forged",
      "impossibleClaim",
      "malformed",
      "rateLimited",
      "slow",
      "wrongAnswer",
    ]);
    for (const o of OFFENCES) assert.ok(OFFENCE_WEIGHTS[o] > 0, o);
    assert.ok(OFFENCE_WEIGHTS.slow < OFFENCE_WEIGHTS.malformed, "slowness weighs little");
    assert.ok(OFFENCE_WEIGHTS.forged >= DEFAULT_MISBEHAVIOUR_OPTIONS.threshold, "forgery bans");
  });

  test("weights add up per group; untracked groups score 0", () => {
    const { m, events } = setup();
    m.report("10.0.0.1", "malformed");
    m.report("10.0.0.1", "slow", "GetNode timed out");
    assert.equal(m.score("10.0.0.1"), OFFENCE_WEIGHTS.malformed + OFFENCE_WEIGHTS.slow);
    assert.equal(m.score("::ffff:10.0.0.1"), m.score("10.0.0.1"), "mapped IPv4 is the same group");
    assert.equal(m.score("10.0.0.2"), 0);
    assert.equal(m.tracked, 1);
    assert.deepEqual(events, []);
    assert.ok(!m.banned("10.0.0.1"));
  });

  test("a score halves every half-life", async () => {
    const { m, clock } = setup();
    m.report("10.0.0.1", "impossibleClaim");
    await clock.advance(10 * MIN);
    close(m.score("10.0.0.1"), 25, "one half-life");
    await clock.advance(5 * MIN);
    close(m.score("10.0.0.1"), 25 / Math.SQRT2, "half a half-life more");
    m.report("10.0.0.1", "wrongAnswer");
    close(m.score("10.0.0.1"), 25 / Math.SQRT2 + 10, "new offence on top of the decayed score");
    await clock.advance(20 * MIN);
    close(m.score("10.0.0.1"), (25 / Math.SQRT2 + 10) / 4, "two more half-lives");
  });

  test("offences spaced out enough never ban", async () => {
    const { m, clock, events } = setup();
    // 3 malformed frames per half-life stay under (100 / 20) · ln 2 ≈ 3.47
    for (let i = 0; i < 300; i++) {
      m.report("10.0.0.1", "malformed");
      await clock.advance((10 * MIN) / 3);
    }
    assert.deepEqual(events, []);
    assert.ok(m.score("10.0.0.1") < 100);
  });
});

describe("bans", () => {
  test("the threshold bans the whole group, once, and resets the score", async () => {
    const { m, clock, events } = setup();
    const since = clock.now();
    for (let i = 0; i < 4; i++) m.report("2001:db8:0:1::5", "malformed");
    assert.deepEqual(events, []);
    m.report("2001:db8:0:1::5", "malformed", "bad header");
    assert.deepEqual(events, [
      {
        group: "2001:db8:0:1::/64",
        ip: "2001:db8:0:1::5",
        offence: "malformed",
        detail: "bad header",
        score: 100,
        count: 1,
        since,
        until: since + 10 * MIN,
      },
    ]);
    assert.ok(m.banned("2001:db8:0:1::5"));
    assert.ok(m.banned("2001:DB8:0:1:ffff::9"), "the whole /64");
    assert.ok(!m.banned("2001:db8:0:2::5"), "not the next /64");
    assert.equal(m.score("2001:db8:0:1::5"), 0);
    // reports during the ban are ignored and do not extend it
    for (let i = 0; i < 10; i++) m.report("2001:db8:0:1::6", "forged");
    assert.equal(events.length, 1);
    assert.equal(m.score("2001:db8:0:1::5"), 0);
    assert.deepEqual(m.bans(), events);
    await clock.advance(10 * MIN - 1);
    assert.ok(m.banned("2001:db8:0:1::5"), "still banned 1 ms before the end");
    await clock.advance(1);
    assert.ok(!m.banned("2001:db8:0:1::5"), "free at `until`");
    assert.deepEqual(m.bans(), []);
  });

  test("loopback is not exempt", () => {
    const { m, events } = setup();
    m.report("127.0.0.1", "forged");
    assert.ok(m.banned("127.0.0.1"));
    assert.ok(m.banned("::ffff:127.0.0.1"));
    assert.ok(!m.banned("127.0.0.2"), "IPv4 groups are single addresses");
    assert.equal(events[0]?.group, "127.0.0.1");
    assert.equal(events[0]?.detail, undefined);
    assert.ok(!("detail" in events[0]!));
  });

  test("each later ban of a group doubles, up to the cap", async () => {
    const { m, clock, events } = setup();
    const expected = [10, 20, 40, 80, 160, 320, 640, 1280, 1440, 1440, 1440].map((x) => x * MIN);
    for (const length of expected) {
      m.report("192.0.2.1", "forged");
      const ban = events.at(-1)!;
      assert.equal(ban.until - ban.since, length, `ban ${ban.count}`);
      await clock.advance(length);
      assert.ok(!m.banned("192.0.2.1"));
    }
    assert.deepEqual(
      events.map((b) => b.count),
      expected.map((_, i) => i + 1),
    );
  });

  test("bans() lists current bans, soonest ending first", async () => {
    const { m, clock } = setup();
    m.report("10.0.0.1", "forged");
    m.report("10.0.0.1", "forged");
    await clock.advance(10 * MIN);
    m.report("10.0.0.1", "forged"); // second ban: 20 min
    await clock.advance(MIN);
    m.report("10.0.0.2", "forged"); // first ban: 10 min, ends sooner
    assert.deepEqual(
      m.bans().map((b) => [b.group, b.count]),
      [
        ["10.0.0.2", 1],
        ["10.0.0.1", 2],
      ],
    );
    const copy = m.bans();
    copy[0]!.until = 0;
    assert.ok(m.banned("10.0.0.2"), "bans() hands out copies");
  });

  test("invalid options are refused", () => {
    const clock = new ManualClock();
    for (const bad of [
      { threshold: 0 },
      { decayHalfLifeMs: -1 },
      { firstBanMs: Number.NaN },
      { maxBanMs: Number.POSITIVE_INFINITY },
      { firstBanMs: 2 * HOUR, maxBanMs: HOUR },
      { maxTracked: 0 },
      { maxTracked: 1.5 },
    ])
      assert.throws(() => new Misbehaviour(bad, clock, () => {}), RangeError, JSON.stringify(bad));
  });
});

describe("bounded memory", () => {
  test("a flood of new sources evicts clean groups before offenders and bans", () => {
    const { m, clock } = setup({ maxTracked: 64 });
    m.report("10.0.0.1", "forged"); // banned
    m.report("10.0.0.2", "impossibleClaim"); // score 50
    for (let i = 0; i < 10_000; i++) {
      m.report(`2001:db8:${i.toString(16)}::1`, "slow");
      assert.ok(m.tracked <= 64);
    }
    assert.ok(m.banned("10.0.0.1"));
    assert.equal(m.score("10.0.0.2"), 50);
    assert.equal(clock.pending, 0, "no timers");
  });

  test("past bans are remembered across eviction pressure", async () => {
    const { m, clock, events } = setup({ maxTracked: 32 });
    m.report("10.0.0.1", "forged");
    await clock.advance(10 * MIN);
    for (let i = 0; i < 1000; i++) m.report(`10.1.${i >> 8}.${i & 255}`, "malformed");
    m.report("10.0.0.1", "forged");
    assert.equal(events.at(-1)?.count, 2);
    assert.equal(events.at(-1)!.until - events.at(-1)!.since, 20 * MIN);
  });

  test("a full table of current bans gives way, soonest ending first", async () => {
    const { m, clock } = setup({ maxTracked: 16 });
    for (let i = 0; i < 16; i++) {
      m.report(`10.0.0.${i}`, "forged");
      await clock.advance(1000);
    }
    m.report("10.0.1.0", "slow");
    assert.equal(m.tracked, 16);
    assert.ok(!m.banned("10.0.0.0"), "the oldest ban was dropped");
    assert.ok(m.banned("10.0.0.15"));
  });

  /** A report from one of `sources` sources, then time moving on (or not). */
  const step = (sources: number) =>
    fc.record({
      source: fc.nat({ max: sources - 1 }),
      offence: fc.constantFrom(...OFFENCES),
      advance: fc.oneof(
        { weight: 4, arbitrary: fc.constant(0) },
        { weight: 2, arbitrary: fc.integer({ min: 0, max: 2 * MIN }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 30 * MIN }) },
      ),
    });
  const source = (i: number) => (i % 2 === 0 ? `10.9.${i >> 8}.${i & 255}` : `2001:db8::${i}:1`);

  test("property: memory stays bounded, and every ban is as long as its count says", async () => {
    let bans = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.array(step(60), { maxLength: 400, size: "max" }),
        async (maxTracked, steps) => {
          const { m, clock, events } = setup({ maxTracked });
          for (const s of steps) {
            m.report(source(s.source), s.offence);
            assert.ok(m.tracked <= maxTracked, `${m.tracked} > ${maxTracked}`);
            if (s.advance > 0) await clock.advance(s.advance);
          }
          const last = new Map<string, number>();
          for (const ban of events) {
            const length = Math.min(10 * MIN * 2 ** (ban.count - 1), 24 * HOUR);
            assert.equal(ban.until - ban.since, length);
            assert.ok(ban.score >= 100);
            const prev = last.get(ban.group) ?? 0;
            // the count goes on from the last ban, or restarts after an eviction
            assert.ok(ban.count === prev + 1 || ban.count === 1, `${ban.count} after ${prev}`);
            last.set(ban.group, ban.count);
          }
          assert.ok(m.bans().length <= maxTracked);
          bans += events.length;
        },
      ),
      { numRuns: 100 },
    );
    assert.ok(bans > 100, `only ${bans} bans exercised`);
  });

  test("property: without eviction, bans grow and scores match an exact decay model", async () => {
    let repeatBans = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step(8), { maxLength: 300, size: "max" }), async (steps) => {
        const { m, clock, events } = setup({ maxTracked: 8 });
        /** Per group: reports since its last ban as (time, weight), and its ban. */
        const model = new Map<string, { reports: [number, number][]; ban?: BanInfo }>();
        const scoreOf = (g: { reports: [number, number][] }, now: number) =>
          g.reports.reduce((sum, [t, w]) => sum + w * 2 ** (-(now - t) / (10 * MIN)), 0);
        for (const s of steps) {
          const ip = source(s.source);
          const group = ipGroup(ip);
          const g = model.get(group) ?? { reports: [] };
          model.set(group, g);
          const now = clock.now();
          const bansBefore = events.length;
          const wasBanned = g.ban !== undefined && now < g.ban.until;
          assert.equal(m.banned(ip), wasBanned);
          m.report(ip, s.offence);
          if (!wasBanned) {
            g.reports.push([now, OFFENCE_WEIGHTS[s.offence]]);
            const expected = scoreOf(g, now);
            if (events.length > bansBefore) {
              const ban = events.at(-1)!;
              assert.equal(ban.group, group);
              assert.ok(expected >= 100 - 1e-6, `banned at ${expected}`);
              assert.equal(ban.count, (g.ban?.count ?? 0) + 1, "bans grow");
              if (g.ban !== undefined) repeatBans++;
              if (g.ban !== undefined)
                assert.ok(ban.until - ban.since >= g.ban.until - g.ban.since, "never shorter");
              g.ban = ban;
              g.reports = [];
            } else {
              assert.ok(expected < 100 + 1e-6, `not banned at ${expected}`);
            }
          }
          assert.equal(events.length - bansBefore <= 1, true);
          close(m.score(ip), scoreOf(g, now), "score");
          if (s.advance > 0) await clock.advance(s.advance);
        }
        assert.ok(m.tracked <= 8);
      }),
      { numRuns: 100 },
    );
    assert.ok(repeatBans > 100, `only ${repeatBans} repeat bans exercised`);
  });
});
