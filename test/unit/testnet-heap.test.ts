// tightenHeap (testnet.ts): once a testnet has formed, its process drops the
// garbage that formation left and keeps the heap near what is live. Run in a
// child process, since it changes V8's flags for the whole process. Control:
// without the call, the dead objects are still on the heap; a plain full
// collection leaves the old generation's sparse pages committed.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const TESTNET = fileURLToPath(new URL("../../src/testnet.js", import.meta.url));

/** What an ES module script printed, run in a fresh node process. */
function inChild(script: string): string {
  return execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
  });
}

/** Heap in use (MiB) after building and dropping ~80 MiB of old objects, with or without tightenHeap. */
function heapAfter(tighten: boolean): number {
  const script = `
    import { tightenHeap } from ${JSON.stringify(TESTNET)};
    let junk = [];
    for (let i = 0; i < 400_000; i++) junk.push({ a: i, b: "x" + i, c: [i, i] });
    junk = undefined;
    if (${tighten}) tightenHeap();
    console.log(process.memoryUsage().heapUsed / 2 ** 20);
  `;
  return Number(inChild(script).trim());
}

test("tightenHeap collects what formation left behind", () => {
  const without = heapAfter(false);
  const withIt = heapAfter(true);
  assert.ok(without > 40, `control: ${without.toFixed(1)} MiB still on the heap without the call`);
  assert.ok(withIt < 20, `${withIt.toFixed(1)} MiB on the heap after tightenHeap`);
});

/**
 * Old space committed and in use (MiB) after keeping one object in 16 of ~100 MiB
 * (sparse pages), then tightenHeap or, for the control, a plain full collection.
 * "tighten, then again" calls tightenHeap first, then makes the pages sparse and
 * collects plainly: compaction must be off again.
 */
function oldSpaceAfter(how: "tighten" | "plain gc" | "tighten, then again"): {
  committed: number;
  used: number;
} {
  const script = `
    import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
    import { runInNewContext } from "node:vm";
    import { tightenHeap } from ${JSON.stringify(TESTNET)};
    const how = ${JSON.stringify(how)};
    if (how === "tighten, then again") tightenHeap();
    let junk = [];
    for (let i = 0; i < 800_000; i++) junk.push({ a: i, b: "x" + i, c: [i, i] });
    const kept = junk.filter((_, i) => i % 16 === 0);
    junk = undefined;
    if (how === "tighten") tightenHeap();
    else {
      setFlagsFromString("--expose-gc");
      runInNewContext("gc")();
    }
    const old = getHeapSpaceStatistics().find((s) => s.space_name === "old_space");
    console.log(JSON.stringify({ committed: old.space_size / 2 ** 20, used: old.space_used_size / 2 ** 20, kept: kept.length }));
  `;
  return JSON.parse(inChild(script)) as { committed: number; used: number };
}

/**
 * Committed over used old space above which pages count as left sparse. A plain
 * collection here reads 6.9-7.6, and about 1 run in 8 reads 2.9 (V8 compacts
 * some pages of its own accord); a compacting one reads 1.05-1.07.
 */
const SPARSE = 2;

test("tightenHeap compacts the pages formation left sparse", () => {
  const plain = oldSpaceAfter("plain gc");
  const tight = oldSpaceAfter("tighten");
  const mib = (o: { committed: number; used: number }) =>
    `${o.committed.toFixed(1)} MiB committed for ${o.used.toFixed(1)} MiB in use`;
  assert.ok(
    plain.committed > SPARSE * plain.used,
    `control: a plain collection left ${mib(plain)}`,
  );
  assert.ok(tight.committed < 1.5 * tight.used + 2, `after tightenHeap: ${mib(tight)}`);
  // Compacting is for that one collection: later ones are V8's own again.
  const later = oldSpaceAfter("tighten, then again");
  assert.ok(later.committed > SPARSE * later.used, `a later plain collection left ${mib(later)}`);
});
