// The data plane applying the rules for records from peers
// (chord/record-rules.ts): a far-future version is neither stored nor
// observed, and no batch of peer records outlasts the skew; deadlines are
// clamped; insertValue stores only at the owner; refusals are reported once
// per batch.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import { type DataDeps, DataPlane } from "../../src/chord/data-plane.js";
import { CHORD_DEFAULTS, type ChordOptions } from "../../src/chord/options.js";
import { MAX_VERSION_SKEW_MS, maxVersionAt } from "../../src/chord/record-rules.js";
import { silentLogger } from "../../src/log.js";
import type { Offence, PeerCaller } from "../../src/ports.js";
import { RingDirectory } from "../../src/ring/directory.js";
import { type Peer, peerAt, RoutingTable } from "../../src/ring/routing-table.js";
import { ManualClock } from "../../src/sim/index.js";
import { keyId } from "../../src/store/store.js";
import { VersionClock } from "../../src/store/version.js";
import type { WireRecord } from "../../src/wire/peer.js";

const OPTS: ChordOptions = {
  ...CHORD_DEFAULTS,
  defaultStoreSeconds: 3600,
  maxStoreSeconds: 86_400,
  replication: 3,
  storeQuotaBytes: 1 << 24,
};
const R = OPTS.successorListLength;
const YEAR_MS = 365 * 86_400_000;

const record = (now: number, over: Partial<WireRecord> = {}): WireRecord => ({
  value: Buffer.from("v"),
  version: now * 1000,
  deadline: now + 60_000,
  replication: 3,
  ...over,
});

describe("data plane: records from peers", () => {
  /** A node owning everything (alone), with a peer `from` in its table. */
  function plane(from: Peer, owns = true) {
    const clock = new ManualClock();
    const self = peerAt("10.9.9.9:7000");
    const table = new RoutingTable(self, R);
    const directory = new RingDirectory(64);
    directory.add(self);
    directory.add(from);
    const reports: [Offence, string][] = [];
    const deps: DataDeps = {
      clock,
      log: silentLogger(),
      table,
      call: () => Promise.reject(new Error("no calls")),
      owns: () => owns,
      directory,
      report: (_f: PeerCaller, o: Offence, d: string) => reports.push([o, d]),
    };
    return { data: new DataPlane(deps, OPTS), clock, reports };
  }
  const peer = peerAt("10.0.0.1:7000");
  const caller: PeerCaller = { addr: peer.addr, ip: "10.0.0.1" };

  test("a far-future version is neither stored nor observed; the batch's good entries are", async () => {
    const { data, clock, reports } = plane(peer);
    const now = clock.now();
    const [a, b, c] = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const evil = record(now, { version: 1.7e308, deadline: now + 10 * YEAR_MS });
    const res = await data.acceptReplicas(
      [
        { key: a, rec: evil },
        { key: b, rec: evil },
        { key: c, rec: record(now, { deadline: now + 10 * YEAR_MS }) },
      ],
      caller,
    );
    assert.deepEqual(res, { stored: 1, refused: 2 });
    assert.equal(data.getLocal(a), null);
    assert.equal(data.getLocal(c)?.deadline, now + OPTS.maxStoreSeconds * 1000, "clamped");
    assert.ok(data.versions.next(now) <= maxVersionAt(now), "the version clock did not move");
    assert.deepEqual(
      reports.map(([o]) => o),
      ["impossibleClaim"],
      "one report per batch",
    );
  });

  test("insertValue: a far-future version is refused and reported, a deadline clamped", async () => {
    const { data, clock, reports } = plane(peer);
    const now = clock.now();
    const key = randomBytes(32);
    const evil = record(now, { version: 1.7e308 });
    assert.equal((await data.insertAsOwner(key, evil, undefined, caller)).stored, false);
    assert.equal(data.getLocal(key), null);
    assert.deepEqual(
      reports.map(([o]) => o),
      ["impossibleClaim"],
    );
    const long = record(now, { deadline: now + 10 * YEAR_MS });
    assert.equal((await data.insertAsOwner(key, long, undefined, caller)).stored, true);
    assert.equal(data.getLocal(key)?.deadline, now + OPTS.maxStoreSeconds * 1000);
  });

  test("a node that does not own the key stores nothing from insertValue", async () => {
    const { data, clock } = plane(peer, false);
    const key = randomBytes(32);
    const res = await data.insertAsOwner(key, record(clock.now()), undefined, caller);
    assert.deepEqual(res, { stored: false, owner: false });
    assert.equal(data.getLocal(key), null);
  });

  test("no batch of peer records outlasts the skew: a write made after it always wins", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            version: fc.oneof(
              fc.double({ min: 0, max: 1.7e308, noNaN: true }),
              fc.integer({ min: -10_000_000, max: 120_000_000 }),
            ),
            deadline: fc.integer({ min: 0, max: 20 * 365 * 86_400 }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        async (batch) => {
          const { data, clock } = plane(peer);
          const key = randomBytes(32);
          const now = clock.now();
          for (const r of batch) {
            const version = r.version > 1e6 * 1e9 ? r.version : now * 1000 + r.version;
            const rec = record(now, { version: Math.max(0, version), deadline: now + r.deadline });
            await data.acceptReplicas([{ key, rec }], caller);
          }
          await clock.advance(MAX_VERSION_SKEW_MS + 1);
          // Another node that never saw those versions writes now.
          const later = clock.now();
          const write = record(later, {
            value: Buffer.from("client"),
            version: new VersionClock().next(later),
          });
          await data.insertAsOwner(key, write);
          assert.equal(data.store.get(keyId(key), later)?.value.toString(), "client");
        },
      ),
      { numRuns: 200 },
    );
  });
});
