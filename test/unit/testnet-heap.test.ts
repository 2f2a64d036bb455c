// tightenHeap (testnet.ts): once a testnet has formed, its process drops the
// garbage that formation left and keeps the heap near what is live. Run in a
// child process, since it changes V8's flags for the whole process. Control:
// without the call, the dead objects are still on the heap.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const TESTNET = fileURLToPath(new URL("../../src/testnet.js", import.meta.url));

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
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
  });
  return Number(out.trim());
}

test("tightenHeap collects what formation left behind", () => {
  const without = heapAfter(false);
  const withIt = heapAfter(true);
  assert.ok(without > 40, `control: ${without.toFixed(1)} MiB still on the heap without the call`);
  assert.ok(withIt < 20, `${withIt.toFixed(1)} MiB on the heap after tightenHeap`);
});
