// Enforces the layering of docs/design.md by reading imports: pure modules use
// no sockets, timers or wall clock; chord talks only to ports; net never
// reaches into chord or store.

import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../../../src/", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

const files = sources(SRC).map((path) => ({
  module: relative(SRC, path).split("/")[0]!,
  name: relative(SRC, path),
  text: readFileSync(path, "utf8"),
}));

const imports = (text: string): string[] =>
  [...text.matchAll(/^(?:import|export)[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1]!);

const RULES: Record<string, { imports: RegExp[]; code: RegExp[] }> = {
  ring: {
    imports: [/^node:(net|dgram|timers)$/, /\.\.\/(chord|net|cli)\//],
    code: [/Date\.now\(|(?<![.\w])set(Timeout|Interval|Immediate)\(/],
  },
  store: {
    imports: [/^node:(net|dgram|timers)$/, /\.\.\/(chord|net|cli)\//],
    code: [/Date\.now\(|(?<![.\w])set(Timeout|Interval|Immediate)\(/],
  },
  wire: {
    imports: [/^node:(net|dgram|timers)$/, /\.\.\/(chord|net|cli|store)\//],
    code: [/Date\.now\(|(?<![.\w])set(Timeout|Interval|Immediate)\(/],
  },
  chord: {
    // Metrics reach chord only through the NodeObserver port (ports.ts).
    imports: [/^node:(net|dgram|timers)$/, /\.\.\/(net|cli)\//, /^prom-client$/],
    code: [/Date\.now\(|(?<![.\w])set(Timeout|Interval|Immediate)\(/],
  },
  net: { imports: [/\.\.\/(chord|store|cli|sim)\//], code: [] },
  // Status, metrics and the ring page: assembled from the node's state, served by net/.
  admin: {
    imports: [/^node:(net|http|dgram|timers)$/, /\.\.\/(net|cli|sim)\//],
    code: [/Date\.now\(|(?<![.\w])set(Timeout|Interval|Immediate)\(/],
  },
  // The LMDB adapter of the RecordPersistence port: files, no sockets, no protocol logic.
  persist: {
    imports: [/^node:(net|dgram)$/, /\.\.\/(chord|store|net|cli|sim)\//],
    code: [/(?<![.\w])set(Timeout|Interval|Immediate)\(/],
  },
  sim: { imports: [/^node:(net|dgram)$/, /\.\.\/(net|chord|cli)\//], code: [/Date\.now\(/] },
};

test("the source tree has the expected modules", () => {
  for (const module of ["wire", "store", "chord", "net", "persist", "config", "cli"]) {
    assert.ok(
      files.some((f) => f.module === module),
      `src/${module}/ missing`,
    );
  }
});

for (const [module, rule] of Object.entries(RULES)) {
  test(`src/${module} keeps to its layer`, () => {
    for (const file of files.filter((f) => f.module === module)) {
      for (const spec of imports(file.text)) {
        for (const banned of rule.imports) {
          assert.doesNotMatch(spec, banned, `${file.name} imports ${spec}`);
        }
      }
      for (const banned of rule.code)
        assert.doesNotMatch(file.text, banned, `${file.name} uses ${banned}`);
    }
  });
}

test("the rules catch a violation", () => {
  assert.deepEqual(imports('import { x } from "../net/api-server.js";\n'), [
    "../net/api-server.js",
  ]);
  assert.match("const t = Date.now();", RULES.chord!.code[0]!);
  assert.match("setTimeout(run, 5);", RULES.chord!.code[0]!);
  assert.doesNotMatch("this.deps.clock.setTimeout(run, 5);", RULES.chord!.code[0]!);
});
