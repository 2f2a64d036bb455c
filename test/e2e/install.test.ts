// Installing as a tool: `npm pack` gives a tarball that installs globally
// into a temporary prefix, and the installed `ringdht` runs from another
// folder (--version, and a node with data_dir, which needs every runtime
// dependency, LMDB's native module included). Also checks the package.json
// parts a tarball depends on: bin inside `files` with a shebang, a build
// before packing, and every package the shipped code imports among the
// runtime dependencies. The tarball is packed from the dist/ that `npm test`
// just built (--ignore-scripts: no second build under the running tests).

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { cleanupAll, onCleanup } from "../harness/cleanup.js";
import { quietPort } from "../harness/ports.js";
import { tempDir, tempFile } from "../harness/process.js";

after(cleanupAll);

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  version: string;
  bin: Record<string, string>;
  files: string[];
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
};

/** npm's own settings from `npm test` (npm_config_*) must not reach the npm we run. */
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

test("package.json: the bin is shipped, starts with a shebang, is built before packing", () => {
  const bin = pkg.bin.ringdht;
  assert.ok(bin !== undefined, "a ringdht bin");
  assert.ok(
    pkg.files.some((f) => !f.startsWith("!") && bin.startsWith(`${f}/`)),
    `${bin} is in files`,
  );
  assert.match(readFileSync(join(ROOT, bin), "utf8"), /^#!\/usr\/bin\/env node\n/);
  const build = pkg.scripts.prepack ?? pkg.scripts.prepare ?? "";
  assert.match(build, /build|tsc/, "npm pack builds dist/ first");
});

test("every package the shipped code imports is a runtime dependency", () => {
  const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
  const used = new Set<string>();
  for (const file of files(join(ROOT, "dist/src")).filter((f) => f.endsWith(".js"))) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\)?\(\s*)"([^"./][^"]*)"/g)) {
      const spec = m[1]!;
      if (builtins.has(spec) || spec.startsWith("node:")) continue;
      const parts = spec.split("/");
      used.add(spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!);
    }
  }
  assert.ok(used.has("lmdb") && used.has("commander"), `found: ${[...used].join(", ")}`);
  const missing = [...used].filter((p) => pkg.dependencies[p] === undefined);
  assert.deepEqual(missing, [], "imported by dist/src but not in dependencies");
});

test("npm pack gives a tarball that installs into a prefix and runs from any folder", {
  timeout: 180_000,
}, async () => {
  const work = tempDir();
  const packed = spawnSync(
    "npm",
    ["pack", "--ignore-scripts", "--json", "--pack-destination", work],
    { cwd: ROOT, env: cleanEnv(), encoding: "utf8" },
  );
  assert.equal(packed.status, 0, packed.stderr);
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  assert.ok(info !== undefined);
  assert.ok(
    info.files.some((f) => f.path === pkg.bin.ringdht),
    "the bin is in the tarball",
  );
  assert.ok(!info.files.some((f) => /^(src|test|bench)\//.test(f.path)), "sources stay out");

  // From the npm cache where it can; CI reaches the registry for the rest.
  const prefix = join(work, "prefix");
  const installed = spawnSync(
    "npm",
    [
      "install",
      "--global",
      join(work, info.filename),
      "--prefix",
      prefix,
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
    ],
    { cwd: work, env: cleanEnv(), encoding: "utf8", timeout: 150_000 },
  );
  assert.equal(installed.status, 0, `npm install failed:\n${installed.stderr}`);

  const elsewhere = tempDir();
  const bin = join(prefix, "bin", "ringdht");
  const version = spawnSync(bin, ["--version"], { cwd: elsewhere, encoding: "utf8" });
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout.trim(), pkg.version);

  // A node of the installed copy, with data_dir: LMDB loads from the install.
  const config = tempFile(
    "node.ini",
    [
      "[dht]",
      `api_address = 127.0.0.1:${await quietPort()}`,
      `p2p_address = 127.0.0.1:${await quietPort()}`,
      `data_dir = ${join(elsewhere, "data")}`,
      "",
    ].join("\n"),
  );
  const node = spawn(bin, ["node", "-c", config], {
    cwd: elsewhere,
    env: { ...cleanEnv(), RINGDHT_LOG_FORMAT: "json" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  onCleanup(() => {
    node.kill("SIGKILL");
  });
  const exited = new Promise<number | null>((resolve) => node.once("exit", resolve));
  // Read stderr to its end (a closed pipe would fail the node's later log lines).
  const seen: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: node.stderr! });
    lines.on("line", (line) => {
      seen.push(line);
      if (line.includes('"API listening"')) resolve();
    });
    lines.once("close", () => reject(new Error(`the node exited:\n${seen.join("\n")}`)));
  });
  assert.ok(
    seen.some((l) => l.includes('"records loaded"')),
    `the installed node opened its data_dir:\n${seen.join("\n")}`,
  );
  node.kill("SIGTERM");
  assert.equal(await exited, 0);
});
