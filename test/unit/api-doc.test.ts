// docs/api.md's worked examples are the bytes our codec writes and reads
// (scripts/api-examples.mjs prints them from the same messages).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { type ApiMessage, decodeApi, encodeApi } from "../../src/wire/api.js";

const DOC = readFileSync(new URL("../../../docs/api.md", import.meta.url), "utf8");

const key = createHash("sha256").update("greeting", "utf8").digest();
const value = Buffer.from("hello", "utf8");

const EXAMPLES: Record<string, { msg: ApiMessage; from: "client" | "node" }> = {
  put: { msg: { type: "put", ttl: 3600, replication: 4, key, value }, from: "client" },
  get: { msg: { type: "get", key }, from: "client" },
  success: { msg: { type: "success", key, value }, from: "node" },
  failure: { msg: { type: "failure", key }, from: "node" },
  shutdown: { msg: { type: "shutdown" }, from: "client" },
};

/** The document's examples: name -> the bytes of its hex block. */
function documented(): Map<string, Buffer> {
  const found = new Map<string, Buffer>();
  const re = /<!-- example: (\w+) \((\d+) bytes\) -->\s*```text\n([0-9a-f\s]+)```/g;
  for (const [, name, size, hex] of DOC.matchAll(re)) {
    const bytes = Buffer.from(hex!.replace(/\s+/g, ""), "hex");
    assert.equal(bytes.length, Number(size), `${name}: the stated size`);
    found.set(name!, bytes);
  }
  return found;
}

test("docs/api.md has one example per message, each as our encoder writes it", () => {
  const examples = documented();
  assert.deepEqual([...examples.keys()].sort(), Object.keys(EXAMPLES).sort());
  for (const [name, { msg, from }] of Object.entries(EXAMPLES)) {
    const bytes = examples.get(name)!;
    assert.equal(bytes.toString("hex"), encodeApi(msg).toString("hex"), name);
    assert.deepEqual(decodeApi(bytes, from), msg, `${name} decodes back`);
  }
});

test("the key the examples name is SHA-256 of 'greeting'", () => {
  assert.ok(DOC.includes(key.toString("hex")));
});

test("docs and README point at nothing outside the repository", () => {
  const docs = readdirSync(new URL("../../../docs/", import.meta.url)).filter((f) =>
    f.endsWith(".md"),
  );
  for (const path of ["README.md", ...docs.map((f) => `docs/${f}`)]) {
    const text = readFileSync(new URL(`../../../${path}`, import.meta.url), "utf8");
    assert.doesNotMatch(text, /\.\.\/shared|shared\/|shared spec/i, path);
  }
});
