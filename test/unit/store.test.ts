import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  ENTRY_OVERHEAD_BYTES,
  entryCost,
  type KeyId,
  keyBytes,
  keyId,
  type PutOutcome,
  Store,
  supersedes,
  type Versioned,
} from "../../src/store/store.js";

const BIG = 1 << 30;
const id = (n: number): KeyId => keyId(Buffer.alloc(32, n));
const rec = (value: string | Buffer, version: number, deadline: number): Versioned => ({
  value: typeof value === "string" ? Buffer.from(value) : value,
  version,
  deadline,
});
/** Cost of an entry whose value has `n` bytes: 32-byte key + value + 128 overhead. */
const cost = (n: number): number => 32 + n + 128;

describe("Store: keys and costs", () => {
  test("keyId/keyBytes round-trip every 32-byte key", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (raw) => {
        const key = Buffer.from(raw);
        const kid = keyId(key);
        assert.equal(kid.length, 32);
        assert.deepEqual(keyBytes(kid), key);
      }),
    );
  });

  test("entryCost is key + value + overhead", () => {
    assert.equal(ENTRY_OVERHEAD_BYTES, 128);
    assert.equal(entryCost(rec("abcde", 1, 1)), 165);
  });

  test("supersedes: higher version wins, equal version larger bytes wins", () => {
    assert.equal(supersedes(rec("a", 2, 0), rec("z", 1, 0)), true);
    assert.equal(supersedes(rec("z", 1, 0), rec("a", 2, 0)), false);
    assert.equal(supersedes(rec("b", 1, 0), rec("a", 1, 0)), true);
    assert.equal(supersedes(rec("a", 1, 0), rec("b", 1, 0)), false);
    assert.equal(supersedes(rec("a", 1, 0), rec("a", 1, 0)), false);
    assert.equal(supersedes(rec("ab", 1, 0), rec("a", 1, 0)), true);
  });
});

describe("Store: TTL", () => {
  test("a record is live while now <= deadline and gone after", () => {
    const s = new Store(BIG);
    assert.equal(s.put(id(1), rec("v", 1, 1000), 0), "stored");
    assert.deepEqual(s.get(id(1), 0)?.value, Buffer.from("v"));
    assert.deepEqual(s.get(id(1), 999)?.value, Buffer.from("v"));
    assert.deepEqual(s.get(id(1), 1000)?.value, Buffer.from("v"));
    assert.equal(s.size, 1);
    assert.equal(s.get(id(1), 1001), undefined);
    // the expired record was dropped on the way, and its bytes released
    assert.equal(s.size, 0);
    assert.equal(s.bytes, 0);
    // and stays gone even if asked about an earlier time afterwards
    assert.equal(s.get(id(1), 500), undefined);
  });

  test("a put that is already expired is refused", () => {
    const s = new Store(BIG);
    assert.equal(s.put(id(1), rec("v", 1, 1000), 1001), "expired");
    assert.equal(s.size, 0);
    assert.equal(s.put(id(1), rec("v", 1, 1000), 1000), "stored");
  });

  test("entries() skips expired records without removing them", () => {
    const s = new Store(BIG);
    s.put(id(1), rec("a", 1, 100), 0);
    s.put(id(2), rec("b", 1, 200), 0);
    s.put(id(3), rec("c", 1, 300), 0);
    const ids = (now: number) => [...s.entries(now)].map(([k]) => k).sort();
    assert.deepEqual(ids(100), [id(1), id(2), id(3)].sort());
    assert.deepEqual(ids(150), [id(2), id(3)].sort());
    assert.deepEqual(ids(301), []);
    assert.equal(s.size, 3);
    const [entry] = [...s.entries(250)];
    assert.deepEqual(entry, [id(3), rec("c", 1, 300)]);
  });
});

describe("Store: last writer wins", () => {
  test("a newer version replaces, an older one is rejected as stale", () => {
    const s = new Store(BIG);
    assert.equal(s.put(id(1), rec("v5", 5, 1000), 0), "stored");
    assert.equal(s.put(id(1), rec("v4", 4, 2000), 0), "stale");
    assert.deepEqual(s.get(id(1), 0), rec("v5", 5, 1000));
    assert.equal(s.put(id(1), rec("v6", 6, 500), 0), "stored");
    assert.deepEqual(s.get(id(1), 0), rec("v6", 6, 500));
    assert.equal(s.size, 1);
  });

  test("equal versions: larger value bytes win; the same write again is 'same'", () => {
    const s = new Store(BIG);
    assert.equal(s.put(id(1), rec("b", 7, 1000), 0), "stored");
    assert.equal(s.put(id(1), rec("a", 7, 1000), 0), "same");
    assert.deepEqual(s.get(id(1), 0)?.value, Buffer.from("b"));
    assert.equal(s.put(id(1), rec("c", 7, 1000), 0), "stored");
    assert.deepEqual(s.get(id(1), 0)?.value, Buffer.from("c"));
    assert.equal(s.put(id(1), rec("c", 7, 1000), 0), "same");
    assert.deepEqual(s.get(id(1), 0), rec("c", 7, 1000));
  });

  test("an older version may be stored once the newer one has expired", () => {
    const s = new Store(BIG);
    s.put(id(1), rec("new", 9, 100), 0);
    assert.equal(s.put(id(1), rec("old", 1, 1000), 101), "stored");
    assert.deepEqual(s.get(id(1), 101)?.value, Buffer.from("old"));
  });

  test("an empty value is refused", () => {
    const s = new Store(BIG);
    assert.equal(s.put(id(1), rec(Buffer.alloc(0), 1, 1000), 0), "empty");
    assert.equal(s.size, 0);
    assert.equal(s.bytes, 0);
    assert.equal(s.nextDeadline(), undefined);
  });

  test("property: the same writes in any order converge to the same record", () => {
    // A write's deadline is fixed when it is first received, so copies of one write
    // (same version and value) always carry the same deadline.
    const write = fc
      .record({
        version: fc.integer({ min: 1, max: 6 }),
        value: fc.uint8Array({ minLength: 1, maxLength: 3 }),
      })
      .map(({ version, value }) => {
        const v = Buffer.from(value);
        return rec(v, version, 10_000 + version * 1000 + v.reduce((a, b) => a * 7 + b, 0));
      });
    fc.assert(
      fc.property(
        fc
          .array(write, { minLength: 1, maxLength: 12 })
          .chain((writes) =>
            fc.tuple(
              fc.constant(writes),
              fc.shuffledSubarray(writes, { minLength: writes.length }),
            ),
          ),
        ([writes, shuffled]) => {
          const a = new Store(BIG);
          const b = new Store(BIG);
          for (const w of writes) a.put(id(1), w, 0);
          for (const w of shuffled) b.put(id(1), w, 0);
          const winner = writes.reduce((best, w) => (supersedes(w, best) ? w : best));
          assert.deepEqual(a.get(id(1), 0), winner);
          assert.deepEqual(b.get(id(1), 0), winner);
          assert.equal(a.bytes, cost(winner.value.length));
          assert.equal(b.bytes, cost(winner.value.length));
        },
      ),
    );
  });
});

describe("Store: quota", () => {
  test("refuses a put that does not fit, leaving the store unchanged", () => {
    const s = new Store(2 * cost(10));
    assert.equal(s.put(id(1), rec(Buffer.alloc(10), 1, 1000), 0), "stored");
    assert.equal(s.put(id(2), rec(Buffer.alloc(10), 1, 1000), 0), "stored");
    assert.equal(s.bytes, 2 * cost(10));
    assert.equal(s.put(id(3), rec(Buffer.alloc(1), 1, 1000), 0), "over-quota");
    assert.equal(s.size, 2);
    assert.equal(s.bytes, 2 * cost(10));
    assert.equal(s.get(id(3), 0), undefined);
  });

  test("a put that exactly fills the quota is accepted", () => {
    const s = new Store(cost(10) + cost(20));
    assert.equal(s.put(id(1), rec(Buffer.alloc(10), 1, 1000), 0), "stored");
    assert.equal(s.put(id(2), rec(Buffer.alloc(20), 1, 1000), 0), "stored");
    assert.equal(s.bytes, s.quotaBytes);
  });

  test("a growing overwrite that does not fit is refused and the old value kept", () => {
    const s = new Store(cost(10));
    assert.equal(s.put(id(1), rec(Buffer.alloc(10, 1), 1, 1000), 0), "stored");
    assert.equal(s.put(id(1), rec(Buffer.alloc(11, 2), 2, 1000), 0), "over-quota");
    assert.deepEqual(s.get(id(1), 0), rec(Buffer.alloc(10, 1), 1, 1000));
    // same size fits exactly
    assert.equal(s.put(id(1), rec(Buffer.alloc(10, 3), 3, 1000), 0), "stored");
    assert.equal(s.bytes, cost(10));
  });

  test("expired entries are swept to make room", () => {
    const s = new Store(2 * cost(10));
    s.put(id(1), rec(Buffer.alloc(10), 1, 100), 0);
    s.put(id(2), rec(Buffer.alloc(10), 1, 1000), 0);
    assert.equal(s.put(id(3), rec(Buffer.alloc(10), 1, 1000), 100), "over-quota");
    assert.equal(s.put(id(3), rec(Buffer.alloc(10), 1, 1000), 101), "stored");
    assert.equal(s.size, 2);
    assert.equal(s.bytes, 2 * cost(10));
    assert.equal(s.get(id(1), 101), undefined);
    assert.notEqual(s.get(id(3), 101), undefined);
  });

  test("a sweep that frees too little still refuses", () => {
    const s = new Store(cost(1) + cost(10));
    s.put(id(1), rec(Buffer.alloc(1), 1, 100), 0);
    s.put(id(2), rec(Buffer.alloc(10), 1, 1000), 0);
    assert.equal(s.put(id(3), rec(Buffer.alloc(5), 1, 1000), 200), "over-quota");
    // the sweep still happened
    assert.equal(s.size, 1);
    assert.equal(s.bytes, cost(10));
  });

  test("overwrite accounting: bytes follow the current value's size", () => {
    const s = new Store(BIG);
    s.put(id(1), rec(Buffer.alloc(100), 1, 1000), 0);
    assert.equal(s.bytes, cost(100));
    s.put(id(1), rec(Buffer.alloc(10), 2, 1000), 0);
    assert.equal(s.bytes, cost(10));
    s.put(id(1), rec(Buffer.alloc(300), 3, 1000), 0);
    assert.equal(s.bytes, cost(300));
    s.put(id(2), rec(Buffer.alloc(1), 1, 1000), 0);
    assert.equal(s.bytes, cost(300) + cost(1));
    // a rejected write changes nothing
    s.put(id(1), rec(Buffer.alloc(5), 1, 1000), 0);
    assert.equal(s.bytes, cost(300) + cost(1));
  });

  test("shrinking a value frees room for another put", () => {
    const s = new Store(cost(100) + cost(1) - 1);
    s.put(id(1), rec(Buffer.alloc(100), 1, 1000), 0);
    assert.equal(s.put(id(2), rec(Buffer.alloc(1), 1, 1000), 0), "over-quota");
    s.put(id(1), rec(Buffer.alloc(1), 2, 1000), 0);
    assert.equal(s.bytes, cost(1));
    assert.equal(s.put(id(2), rec(Buffer.alloc(1), 1, 1000), 0), "stored");
    assert.equal(s.bytes, 2 * cost(1));
  });

  test("delete removes the record and its bytes", () => {
    const s = new Store(BIG);
    s.put(id(1), rec("abc", 1, 1000), 0);
    s.put(id(2), rec("de", 1, 1000), 0);
    assert.equal(s.delete(id(1)), true);
    assert.equal(s.delete(id(1)), false);
    assert.equal(s.delete(id(9)), false);
    assert.equal(s.get(id(1), 0), undefined);
    assert.equal(s.size, 1);
    assert.equal(s.bytes, cost(2));
  });
});

describe("Store: sweep and nextDeadline", () => {
  test("nextDeadline is the earliest pending deadline", () => {
    const s = new Store(BIG);
    assert.equal(s.nextDeadline(), undefined);
    s.put(id(1), rec("a", 1, 300), 0);
    assert.equal(s.nextDeadline(), 300);
    s.put(id(2), rec("b", 1, 100), 0);
    assert.equal(s.nextDeadline(), 100);
    s.put(id(3), rec("c", 1, 200), 0);
    assert.equal(s.nextDeadline(), 100);
    assert.equal(s.sweep(101), 1);
    assert.equal(s.nextDeadline(), 200);
    assert.equal(s.sweep(1000), 2);
    assert.equal(s.nextDeadline(), undefined);
    assert.equal(s.size, 0);
    assert.equal(s.bytes, 0);
  });

  test("sweep keeps a record whose deadline equals now", () => {
    const s = new Store(BIG);
    s.put(id(1), rec("a", 1, 100), 0);
    assert.equal(s.sweep(100), 0);
    assert.equal(s.size, 1);
    assert.equal(s.sweep(101), 1);
    assert.equal(s.size, 0);
  });

  test("an overwritten record is not swept at its old deadline", () => {
    const s = new Store(BIG);
    s.put(id(1), rec("a", 1, 100), 0);
    s.put(id(1), rec("b", 2, 500), 0);
    assert.equal(s.sweep(200), 0);
    assert.deepEqual(s.get(id(1), 200), rec("b", 2, 500));
    assert.equal(s.nextDeadline(), 500);
    assert.equal(s.sweep(501), 1);
    assert.equal(s.size, 0);
  });

  test("an overwrite with an earlier deadline is swept at the earlier deadline", () => {
    const s = new Store(BIG);
    s.put(id(1), rec("a", 1, 500), 0);
    s.put(id(1), rec("b", 2, 100), 0);
    assert.equal(s.sweep(101), 1);
    assert.equal(s.get(id(1), 101), undefined);
    assert.equal(s.sweep(501), 0);
    assert.equal(s.bytes, 0);
  });

  test("many overwrites of one key (heap compaction) keep sweep exact", () => {
    const s = new Store(BIG);
    for (let v = 1; v <= 3000; v++) {
      assert.equal(s.put(id(1), rec("x", v, 10_000 + v), 0), "stored");
    }
    s.put(id(2), rec("y", 1, 5000), 0);
    assert.equal(s.size, 2);
    assert.equal(s.nextDeadline(), 5000);
    assert.equal(s.sweep(5001), 1);
    assert.equal(s.sweep(12_999), 0);
    assert.deepEqual(s.get(id(1), 12_999), rec("x", 3000, 13_000));
    assert.equal(s.sweep(13_001), 1);
    assert.equal(s.size, 0);
    assert.equal(s.bytes, 0);
  });

  test("property: sweep removes exactly the records with deadline < now", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 40 }),
        fc.integer({ min: 0, max: 1001 }),
        (deadlines, now) => {
          const s = new Store(BIG);
          deadlines.forEach((d, i) => {
            s.put(id(i), rec("v", 1, d), 0);
          });
          const expired = deadlines.filter((d) => d < now).length;
          assert.equal(s.sweep(now), expired);
          assert.equal(s.size, deadlines.length - expired);
          assert.equal(s.bytes, (deadlines.length - expired) * cost(1));
          deadlines.forEach((d, i) => {
            assert.equal(s.get(id(i), now) !== undefined, d >= now);
          });
          const live = deadlines.filter((d) => d >= now);
          assert.equal(s.nextDeadline(), live.length === 0 ? undefined : Math.min(...live));
        },
      ),
    );
  });
});

describe("Store: model-based property", () => {
  type Op =
    | { op: "put"; k: number; version: number; len: number; ttl: number }
    | { op: "get"; k: number }
    | { op: "delete"; k: number }
    | { op: "sweep" }
    | { op: "tick"; ms: number };

  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      op: fc.constant("put" as const),
      k: fc.integer({ min: 0, max: 3 }),
      version: fc.integer({ min: 1, max: 8 }),
      len: fc.integer({ min: 0, max: 40 }),
      ttl: fc.integer({ min: -5, max: 60 }),
    }),
    fc.record({ op: fc.constant("get" as const), k: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ op: fc.constant("delete" as const), k: fc.integer({ min: 0, max: 3 }) }),
    fc.constant<Op>({ op: "sweep" }),
    fc.record({ op: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 30 }) }),
  );

  test("Store matches a plain-map model (outcomes, reads, bytes, size)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), fc.integer({ min: 0, max: 3 }), (ops, q) => {
        const quota = [BIG, cost(40) * 2, cost(20) * 3, cost(5)][q]!;
        const store = new Store(quota);
        const model = new Map<KeyId, Versioned>();
        let now = 1000;
        const modelBytes = () => [...model.values()].reduce((a, r) => a + cost(r.value.length), 0);
        const liveInModel = (k: KeyId): Versioned | undefined => {
          const r = model.get(k);
          if (r !== undefined && now > r.deadline) {
            model.delete(k);
            return undefined;
          }
          return r;
        };
        const modelSweep = (): number => {
          let n = 0;
          for (const [k, r] of model) {
            if (r.deadline < now) {
              model.delete(k);
              n++;
            }
          }
          return n;
        };
        for (const o of ops) {
          switch (o.op) {
            case "tick":
              now += o.ms;
              break;
            case "get": {
              const k = id(o.k);
              assert.deepEqual(store.get(k, now), liveInModel(k));
              break;
            }
            case "delete": {
              const k = id(o.k);
              assert.equal(store.delete(k), model.delete(k));
              break;
            }
            case "sweep":
              assert.equal(store.sweep(now), modelSweep());
              break;
            case "put": {
              const k = id(o.k);
              const r = rec(Buffer.alloc(o.len, o.version), o.version, now + o.ttl);
              let expected: PutOutcome;
              if (o.len === 0) expected = "empty";
              else if (now > r.deadline) expected = "expired";
              else {
                const old = liveInModel(k);
                if (old !== undefined && !supersedes(r, old)) {
                  expected = old.version === r.version ? "same" : "stale";
                } else {
                  const delta = cost(o.len) - (old === undefined ? 0 : cost(old.value.length));
                  if (modelBytes() + delta > quota) modelSweep();
                  if (modelBytes() + delta > quota) expected = "over-quota";
                  else {
                    model.set(k, r);
                    expected = "stored";
                  }
                }
              }
              assert.equal(store.put(k, r, now), expected);
              break;
            }
          }
          assert.equal(store.size, model.size);
          assert.equal(store.bytes, modelBytes());
          assert.ok(store.bytes <= quota);
        }
      }),
    );
  });
});
