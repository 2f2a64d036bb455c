// The compact forms that keep memory per record and per peer small: packed
// records, the store's deadline heap, shared empty summaries, and the per-peer
// rate limiter that forgets idle peers. Structure is asserted, not RSS.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { PeerRateLimiter } from "../../src/net/rate-limit.js";
import { DeadlineHeap } from "../../src/store/deadline-heap.js";
import { PACKED_HEADER_BYTES, PackedRecord } from "../../src/store/packed-record.js";
import { keyId, Store } from "../../src/store/store.js";
import { summarize } from "../../src/store/summary.js";

const hexId = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString("hex"));
const fields = fc.record({
  value: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)),
  version: fc.oneof(fc.nat(), fc.constant(1_754_000_000_000_123), fc.double({ noNaN: true })),
  deadline: fc.oneof(fc.nat(), fc.constant(1_754_000_000_000)),
  digest: fc.nat({ max: 0xffffffff }),
  replication: fc.integer({ min: 1, max: 32 }),
  pos: hexId,
});

describe("PackedRecord", () => {
  test("every field reads back as packed", () => {
    fc.assert(
      fc.property(fields, (f) => {
        const rec = PackedRecord.pack(f);
        assert.deepEqual(rec.value, f.value);
        assert.equal(rec.valueLength, f.value.length);
        assert.equal(rec.version, f.version);
        assert.equal(rec.deadline, f.deadline);
        assert.equal(rec.digest, f.digest);
        assert.equal(rec.replication, f.replication);
        assert.equal(rec.pos, f.pos);
      }),
    );
  });

  test("a record is one string of header + value bytes, nothing else", () => {
    const value = Buffer.alloc(100, 7);
    const rec = PackedRecord.pack({
      value,
      version: 1.5e15,
      deadline: 1.7e12,
      digest: 0xfedcba98,
      replication: 8,
      pos: "ab".repeat(32),
    });
    const own = Object.values(rec);
    assert.equal(own.length, 1, "one field per record");
    assert.equal(typeof own[0], "string");
    assert.equal((own[0] as string).length, PACKED_HEADER_BYTES + value.length);
    assert.ok(PACKED_HEADER_BYTES <= 56, "fixed fields stay within 56 bytes");
    // The value is copied in: later changes to the caller's buffer do not reach the store.
    value.fill(0);
    assert.deepEqual(rec.value, Buffer.alloc(100, 7));
  });

  test("the store charges a packed record by its value length", () => {
    const s = new Store<PackedRecord>(1 << 20);
    const rec = PackedRecord.pack({
      value: Buffer.from("hello"),
      version: 2,
      deadline: 100,
      digest: 1,
      replication: 3,
      pos: "00".repeat(32),
    });
    assert.equal(s.put(keyId(Buffer.alloc(32, 1)), rec, 0), "stored");
    assert.equal(s.bytes, 32 + 5 + 128);
  });
});

describe("DeadlineHeap", () => {
  test("pops in deadline order", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 })), (ds) => {
        const h = new DeadlineHeap();
        for (const [i, d] of ds.entries()) h.push(d, `k${i}`);
        const out: number[] = [];
        for (let d = h.peekDeadline(); d !== undefined; d = h.peekDeadline()) {
          assert.equal(ds[Number(h.peekId()?.slice(1))], d);
          out.push(d);
          h.pop();
        }
        assert.deepEqual(
          out,
          [...ds].sort((a, b) => a - b),
        );
        assert.equal(h.length, 0);
      }),
    );
  });
});

describe("Summaries", () => {
  test("a range without records shares one empty summary", () => {
    const a = summarize([], "00".repeat(32), "ff".repeat(32), 1);
    const b = summarize([], "11".repeat(32), "22".repeat(32), 3);
    assert.equal(a, b);
    assert.equal(a.count, 0);
    assert.equal(a.buckets.length, 64);
    assert.ok(a.buckets.every((x) => x === 0));
  });
});

describe("PeerRateLimiter", () => {
  test("a burst, then refusals reported at most once a second", () => {
    const r = new PeerRateLimiter(1, 2);
    assert.equal(r.take("a", 0), "allow");
    assert.equal(r.take("a", 0), "allow");
    assert.equal(r.take("a", 0), "refuse-and-report");
    assert.equal(r.take("a", 500), "refuse");
    assert.equal(r.take("a", 1000), "allow");
    assert.equal(r.take("a", 1000), "refuse-and-report");
    // Another peer has a bucket of its own.
    assert.equal(r.take("b", 1000), "allow");
  });

  test("refills at the sustained rate", () => {
    const r = new PeerRateLimiter(10, 5);
    let allowed = 0;
    for (let t = 0; t < 10_000; t += 10) if (r.take("a", t) === "allow") allowed++;
    // 5 at once, then 10 per second over 10 s.
    assert.ok(allowed >= 100 && allowed <= 106, `allowed ${allowed}`);
  });

  test("peers whose bucket is full again are forgotten as new ones arrive", () => {
    const r = new PeerRateLimiter(5000, 10_000);
    for (let i = 0; i < 10_000; i++) r.take(`peer${i}`, i * 10);
    // Each bucket is full 0.2 ms after its one call: only recent peers are tracked.
    assert.ok(r.tracked <= 128, `tracked ${r.tracked}`);
  });
});
