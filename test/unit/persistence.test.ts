// Persistence (data_dir): the data plane reports every change of its store to
// the RecordPersistence port and acknowledges a write only once it is durable;
// records read back keep their deadlines and versions and are not written
// back; the LMDB adapter round-trips records, drops expired ones on load, and
// turns a corrupt or unusable folder into a DataDirError.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { open } from "lmdb";
import { type DataDeps, DataPlane } from "../../src/chord/data-plane.js";
import { CHORD_DEFAULTS, type ChordOptions } from "../../src/chord/options.js";
import { silentLogger } from "../../src/log.js";
import { DataDirError, LmdbRecords, RECORDS_FILE } from "../../src/persist/lmdb-records.js";
import { decodeRecord, encodeRecord } from "../../src/persist/record-codec.js";
import type { RecordPersistence } from "../../src/ports.js";
import { RingDirectory } from "../../src/ring/directory.js";
import { peerAt, RoutingTable } from "../../src/ring/routing-table.js";
import { ManualClock } from "../../src/sim/index.js";
import type { WireRecord } from "../../src/wire/peer.js";
import { tempDir } from "../harness/process.js";

const OPTS: ChordOptions = {
  ...CHORD_DEFAULTS,
  defaultStoreSeconds: 3600,
  maxStoreSeconds: 86_400,
  replication: 1,
  storeQuotaBytes: 1 << 24,
};

const record = (now: number, over: Partial<WireRecord> = {}): WireRecord => ({
  value: Buffer.from("value"),
  version: now * 1000,
  deadline: now + 60_000,
  replication: 1,
  ...over,
});

/** A persistence port that records what it is told; durable() settles when the test says. */
class FakePersistence implements RecordPersistence {
  readonly log: string[] = [];
  private settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  auto = true;

  put(key: Buffer, rec: WireRecord): void {
    this.log.push(`put ${key.toString("hex").slice(0, 4)} ${rec.value.toString()}`);
  }
  delete(key: Buffer): void {
    this.log.push(`delete ${key.toString("hex").slice(0, 4)}`);
  }
  durable(): Promise<void> {
    if (this.auto) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
  }
  release(err?: Error): void {
    const s = this.settle;
    assert.ok(s !== undefined, "nobody waits for durability");
    this.settle = undefined;
    if (err === undefined) s.resolve();
    else s.reject(err);
  }
  get waiting(): boolean {
    return this.settle !== undefined;
  }
}

/** A node alone (it owns every key) over `persist`. */
function plane(persist: RecordPersistence) {
  const clock = new ManualClock();
  const self = peerAt("10.9.9.9:7000");
  const directory = new RingDirectory(64);
  directory.add(self);
  const deps: DataDeps = {
    clock,
    log: silentLogger(),
    table: new RoutingTable(self, OPTS.successorListLength),
    call: () => Promise.reject(new Error("no calls")),
    owns: () => true,
    directory,
    persist,
  };
  return { data: new DataPlane(deps, OPTS), clock };
}

const key = (n: number) => Buffer.alloc(32, n);
const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe("data plane over a persistence port", () => {
  test("writes, drops and expiry reach the port in order", async () => {
    const p = new FakePersistence();
    const { data, clock } = plane(p);
    const now = clock.now();
    assert.equal((await data.insertAsOwner(key(1), record(now))).stored, true);
    assert.equal(
      (await data.insertAsOwner(key(2), record(now, { deadline: now + 1000 }))).stored,
      true,
    );
    assert.equal(
      (
        await data.insertAsOwner(
          key(1),
          record(now, { version: now * 1000 + 1, value: Buffer.from("newer") }),
        )
      ).stored,
      true,
    );
    data.drop(data.live().filter(([id]) => id === key(1).toString("latin1")));
    await clock.advance(2000); // key 2 expires: the expiry job sweeps it
    assert.deepEqual(p.log, [
      "put 0101 value",
      "put 0202 value",
      "put 0101 newer",
      "delete 0101",
      "delete 0202",
    ]);
    data.stop();
  });

  test("an owner acknowledges a write only once it is durable", async () => {
    const p = new FakePersistence();
    p.auto = false;
    const { data, clock } = plane(p);
    let outcome: boolean | undefined;
    void data.insertAsOwner(key(3), record(clock.now())).then((r) => {
      outcome = r.stored;
    });
    await turns();
    assert.ok(p.waiting, "the write waits for durability");
    assert.equal(outcome, undefined, "not acknowledged before it is durable");
    p.release();
    await turns();
    assert.equal(outcome, true);
    data.stop();
  });

  test("a write that could not be made durable is not acknowledged", async () => {
    const p = new FakePersistence();
    p.auto = false;
    const { data, clock } = plane(p);
    const res = data.insertAsOwner(key(4), record(clock.now()));
    await turns();
    p.release(new Error("disk full"));
    assert.equal((await res).stored, false);
    data.stop();
  });

  test("a replica answers StoreReplicas only once its copies are durable", async () => {
    const p = new FakePersistence();
    p.auto = false;
    const { data, clock } = plane(p);
    const from = { addr: "10.9.9.9:7000", ip: "10.9.9.9" }; // itself: always in position
    let answered = false;
    const res = data.acceptReplicas([{ key: key(5), rec: record(clock.now()) }], from).then((r) => {
      answered = true;
      return r;
    });
    await turns();
    assert.equal(answered, false);
    p.release(new Error("disk full"));
    await assert.rejects(res, /could not persist/);
    data.stop();
  });

  test("restored records keep deadline and version, are not written back; others are deleted", () => {
    const p = new FakePersistence();
    const { data, clock } = plane(p);
    const now = clock.now();
    const kept = data.restore([
      { key: key(6), rec: record(now, { version: 42_000, deadline: now + 5000 }) },
      { key: key(7), rec: record(now, { deadline: now - 1 }) },
    ]);
    assert.equal(kept, 1);
    assert.deepEqual(data.getLocal(key(6)), record(now, { version: 42_000, deadline: now + 5000 }));
    assert.equal(data.getLocal(key(7)), null);
    assert.deepEqual(p.log, ["delete 0707"], "nothing written back, the expired one deleted");
    assert.ok(data.versions.next(now) > 42_000, "the version clock moved past what was loaded");
    data.stop();
  });
});

describe("record codec", () => {
  test("round-trips a record; refuses bytes that are not one", () => {
    const rec = record(1_700_000_000_000, { replication: 8, value: randomBytes(100) });
    assert.deepEqual(decodeRecord(key(1), encodeRecord(rec)), rec);
    assert.match(String(decodeRecord(key(1), Buffer.from("short"))), /too short/);
    const bad = encodeRecord(rec);
    bad[0] = 9;
    assert.match(String(decodeRecord(key(1), bad)), /format/);
    assert.match(String(decodeRecord(Buffer.alloc(5), encodeRecord(rec))), /key/);
  });
});

describe("LMDB records", () => {
  test("records survive closing and reopening; expired ones are dropped from the file on load", async () => {
    const dir = join(tempDir(), "data");
    const now = Date.now();
    const db = LmdbRecords.open(dir);
    db.put(key(1), record(now, { value: Buffer.from("one") }));
    db.put(key(2), record(now, { value: Buffer.from("two"), deadline: now + 10 }));
    db.put(key(3), record(now, { value: Buffer.from("three") }));
    db.delete(key(3));
    await db.durable();
    await db.close();

    const again = LmdbRecords.open(dir);
    const loaded = [...again.load(now + 1000)];
    assert.deepEqual(
      loaded.map((e) => [e.key[0], e.rec.value.toString(), e.rec.deadline]),
      [[1, "one", now + 60_000]],
    );
    assert.deepEqual(again.stats, { loaded: 1, expired: 1 });
    await again.durable();
    assert.equal(again.count, 1, "the expired record left the file");
    await again.close();
  });

  test("a folder that is a file, or a file that is not a database, is a DataDirError", () => {
    const file = join(tempDir(), "plain");
    writeFileSync(file, "not a folder");
    assert.throws(() => LmdbRecords.open(file), DataDirError);
    assert.throws(() => LmdbRecords.open(join(file, "below")), DataDirError);
    const dir = join(tempDir(), "corrupt");
    mkdirSync(dir);
    writeFileSync(join(dir, RECORDS_FILE), randomBytes(16_384));
    assert.throws(() => LmdbRecords.open(dir), /not a ringdht database/);
  });

  test("a database cut short is a DataDirError, not a crash", async () => {
    const dir = join(tempDir(), "cut");
    const db = LmdbRecords.open(dir);
    for (let i = 0; i < 2000; i++) {
      const k = Buffer.alloc(32);
      k.writeUInt32LE(i);
      db.put(k, record(Date.now(), { value: Buffer.alloc(200, 7) }));
    }
    await db.durable();
    await db.close();
    truncateSync(join(dir, RECORDS_FILE), 16_384);
    assert.throws(() => LmdbRecords.open(dir), /cut short/);
  });

  test("a record that does not decode is a DataDirError on load", async () => {
    const dir = join(tempDir(), "bad-record");
    mkdirSync(dir);
    const raw = open<Buffer, Buffer>({
      path: join(dir, RECORDS_FILE),
      encoding: "binary",
      keyEncoding: "binary",
    });
    await raw.put(key(1), Buffer.from("garbage that is no record"));
    await raw.close();
    const db = LmdbRecords.open(dir);
    assert.throws(() => [...db.load(Date.now())], /corrupt/);
    await db.close();
  });
});
