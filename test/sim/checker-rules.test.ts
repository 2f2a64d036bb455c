// The checker's rules on hand-made histories: what each violation kind is,
// what is allowed (concurrent and indeterminate writes, unavailability,
// reads during a partition), and a control history that shows every kind.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { check, countByKind, HEAL_GRACE_MS, VIOLATION_KINDS, type Violation } from "./checker.js";
import type { GetOp, History, KeyReplicas, Op, PutOp, Window } from "./history.js";

let ids = 0;
const put = (key: string, value: string, invoke: number, complete: number, ok = true): PutOp => ({
  kind: "put",
  id: ids++,
  client: 0,
  node: "n0:7000",
  key,
  value,
  invoke,
  complete,
  ok,
});

const get = (key: string, invoke: number, complete: number, value: string | null | "!"): GetOp => ({
  kind: "get",
  id: ids++,
  client: 0,
  node: "n1:7000",
  key,
  invoke,
  complete,
  outcome: value === "!" ? "unavailable" : value === null ? "absent" : "found",
  value: value === "!" ? null : value,
});

function history(
  ops: Op[],
  extra: { partitions?: Window[]; finalReads?: GetOp[]; replicas?: KeyReplicas[] } = {},
): History {
  return {
    seed: 0,
    ops,
    partitions: extra.partitions ?? [],
    finalReads: extra.finalReads ?? [],
    replicas: extra.replicas ?? [],
    faults: [],
  };
}

const kinds = (violations: Violation[]) => violations.map((v) => v.kind);

describe("checker: reads during the run", () => {
  test("a read of the newest acked write, or of nothing before any ack, is fine", () => {
    const ops = [get("a", 0, 1, null), put("a", "w1", 2, 10), get("a", 11, 12, "w1")];
    assert.deepEqual(check(history(ops)), []);
  });

  test("stale-read: a write acked before another was invoked, read after that one was acked", () => {
    const w1 = put("a", "w1", 0, 10);
    const w2 = put("a", "w2", 20, 30);
    const stale = get("a", 40, 45, "w1");
    const found = check(history([w1, w2, stale, get("a", 40, 45, "w2")]));
    assert.deepEqual(kinds(found), ["stale-read"]);
    assert.equal(found[0]!.op, stale.id);
    assert.match(found[0]!.detail, /returned w1 .* older than w2/);
  });

  test("a read overlapping the newer write, or of a concurrent write, is not stale", () => {
    const w1 = put("a", "w1", 0, 30);
    const w2 = put("a", "w2", 10, 20);
    const w3 = put("a", "w3", 40, 50);
    // w1 and w2 overlap: either may win; w3 was not yet acked when these reads began.
    const reads = [get("a", 35, 36, "w2"), get("a", 36, 37, "w1"), get("a", 45, 60, "w1")];
    assert.deepEqual(check(history([w1, w2, w3, ...reads])), []);
    // Acked and invoked in the same millisecond as the read: not ordered, not stale.
    assert.deepEqual(check(history([w1, put("a", "w4", 31, 40), get("a", 40, 41, "w1")])), []);
  });

  test("absent-read: nothing found though a write was acked before the read", () => {
    const ops = [put("a", "w1", 0, 10), get("a", 5, 8, null), get("a", 11, 12, null)];
    assert.deepEqual(kinds(check(history(ops))), ["absent-read"]);
  });

  test("indeterminate writes never make another stale, but may be returned", () => {
    const ops = [
      put("a", "w0", 0, 5, false),
      put("a", "w1", 10, 20),
      put("a", "w2", 30, 40, false),
      get("a", 50, 51, "w1"),
      get("a", 52, 53, "w2"),
      get("a", 54, 55, "w0"),
    ];
    assert.deepEqual(check(history(ops)), []);
  });

  test("an unavailable read is allowed during the run", () => {
    assert.deepEqual(check(history([put("a", "w1", 0, 10), get("a", 20, 30, "!")])), []);
  });

  test("phantom-read and future-read: values never written there, or written after the read", () => {
    const ops = [
      put("a", "w1", 0, 10),
      put("b", "w2", 0, 10),
      get("a", 20, 21, "w99"),
      get("a", 22, 23, "w2"),
      get("a", 30, 31, "w3"),
      put("a", "w3", 40, 50),
    ];
    assert.deepEqual(kinds(check(history(ops))), ["phantom-read", "phantom-read", "future-read"]);
  });

  test(`reads overlapping [partition start, heal + ${HEAL_GRACE_MS} ms] are exempt from staleness only`, () => {
    const partitions = [{ start: 1_000, end: 2_000 }];
    const base = [put("a", "w1", 0, 10), put("a", "w2", 20, 30)];
    const at = (t: number, value: string | null) => get("a", t, t + 5, value);
    const exempt = [at(995, "w1"), at(1_500, null), at(2_000 + HEAL_GRACE_MS, "w1")];
    assert.deepEqual(check(history([...base, ...exempt], { partitions })), []);
    const after = [at(2_001 + HEAL_GRACE_MS, "w1"), at(900, null), at(1_500, "w0")];
    assert.deepEqual(kinds(check(history([...base, ...after], { partitions }))), [
      "stale-read",
      "absent-read",
      "phantom-read",
    ]);
  });
});

describe("checker: after quiescence", () => {
  const w1 = put("k", "w1", 0, 10);
  const w2 = put("k", "w2", 20, 30);

  test("lost-write: a final read older than an acked write, or empty; final-unavailable: failed", () => {
    const finalReads = [
      get("k", 100, 101, "w2"),
      get("k", 100, 102, "w1"),
      get("k", 100, 103, null),
    ];
    finalReads.push(get("k", 100, 104, "!"));
    assert.deepEqual(kinds(check(history([w1, w2], { finalReads }))), [
      "lost-write",
      "lost-write",
      "final-unavailable",
    ]);
  });

  test("final reads get no partition exemption", () => {
    const finalReads = [get("k", 100, 101, "w1")];
    const partitions = [{ start: 50, end: 90 }];
    assert.deepEqual(kinds(check(history([w1, w2], { finalReads, partitions }))), ["lost-write"]);
  });

  test("divergence, stray copies and under-replication over the live copies", () => {
    const copy = (node: string, value: string, version: number) => ({ node, value, version });
    const expected = ["n1", "n2", "n3"];
    const agreed = [copy("n1", "w2", 2), copy("n2", "w2", 2), copy("n3", "w2", 2)];
    assert.deepEqual(
      check(history([w1, w2], { replicas: [{ key: "k", expected, copies: agreed }] })),
      [],
    );
    const split = [copy("n1", "w2", 2), copy("n2", "w1", 1), copy("n3", "w2", 2)];
    const stray = [...agreed, copy("n9", "w1", 1)];
    const short = [copy("n1", "w2", 2), copy("n3", "w2", 2)];
    const replicas = [split, stray, short].map((copies) => ({ key: "k", expected, copies }));
    const found = check(history([w1, w2], { replicas }));
    assert.deepEqual(kinds(found), ["divergence", "stray-copy", "under-replicated"]);
    assert.match(found[2]!.detail, /no copy on n2 /);
  });

  test("a key nobody wrote successfully and nobody holds needs no copies; one somebody holds does", () => {
    const failed = put("f", "w5", 0, 10, false);
    const none = { key: "f", expected: ["n1", "n2"], copies: [] };
    assert.deepEqual(check(history([failed], { replicas: [none] })), []);
    const held = {
      key: "f",
      expected: ["n1", "n2"],
      copies: [{ node: "n1", value: "w5", version: 5 }],
    };
    assert.deepEqual(kinds(check(history([failed], { replicas: [held] }))), ["under-replicated"]);
  });
});

test("control: one history that shows every violation kind, counted by kind", () => {
  const partitions = [{ start: 1_000, end: 1_100 }];
  const ops = [
    put("a", "w1", 0, 10),
    put("a", "w2", 20, 30),
    get("a", 40, 41, "w1"), // stale-read
    get("a", 40, 41, null), // absent-read
    get("a", 40, 41, "w7"), // phantom-read
    get("a", 40, 41, "w3"), // future-read
    put("a", "w3", 50, 60),
    get("a", 1_050, 1_060, "w1"), // exempt: during the partition
  ];
  const finalReads = [get("a", 9_000, 9_001, "w2"), get("a", 9_000, 9_002, "!")];
  const replicas = [
    {
      key: "a",
      expected: ["n1", "n2"],
      copies: [
        { node: "n1", value: "w3", version: 3 },
        { node: "n3", value: "w2", version: 2 },
      ],
    },
    {
      key: "a",
      expected: ["n1", "n2"],
      copies: [
        { node: "n1", value: "w3", version: 3 },
        { node: "n2", value: "w1", version: 1 },
      ],
    },
  ];
  const counts = countByKind(check(history(ops, { partitions, finalReads, replicas })));
  assert.deepEqual(counts, {
    "stale-read": 1,
    "absent-read": 1,
    "phantom-read": 1,
    "future-read": 1,
    "lost-write": 1,
    "final-unavailable": 1,
    divergence: 1,
    "stray-copy": 1,
    "under-replicated": 1,
  });
  assert.deepEqual(Object.keys(counts).sort(), [...VIOLATION_KINDS].sort());
});
