// Configuration from flags, RINGDHT_<KEY> variables, a file and the defaults:
// precedence per key, the same checks for every source, errors naming the
// source, warnings for unknown variables; examples/node.ini parses.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  ConfigError,
  type ConfigSources,
  defaultConfig,
  loadConfig,
  loadConfigFile,
} from "../../src/config/config.js";
import { DEFAULTS, GLOBAL_KEYS } from "../../src/config/defaults.js";
import { envValues, envVar, NODE_FLAGS } from "../../src/config/sources.js";
import { tempFile } from "../harness/process.js";

const EXAMPLE = fileURLToPath(new URL("../../../examples/node.ini", import.meta.url));

/** A file setting `body` in [dht]. */
const file = (body: string) => tempFile("node.ini", `[dht]\n${body}\n`);

function assertError(sources: ConfigSources, ...patterns: RegExp[]): void {
  assert.throws(
    () => loadConfig(sources),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.ok(!err.message.includes("\n"), `one line: ${err.message}`);
      for (const p of patterns) assert.match(err.message, p);
      return true;
    },
  );
}

describe("config sources: precedence", () => {
  test("flags over environment over file over defaults, per key", () => {
    const ini = file("replication = 3\nsuccessor_list_length = 12\npow_difficulty = 4");
    const env = { RINGDHT_REPLICATION: "4", RINGDHT_SUCCESSOR_LIST_LENGTH: "11" };
    const flags = { replication: "5" };
    const all = loadConfig({ file: ini, env, flags }).config;
    assert.equal(all.replication, 5, "flag over environment");
    assert.equal(all.successorListLength, 11, "environment over file");
    assert.equal(all.powDifficulty, 4, "file over default");
    assert.equal(all.stabilizeIntervalMs, DEFAULTS.stabilize_interval_ms, "default");
    assert.equal(loadConfig({ file: ini, env }).config.replication, 4);
    assert.equal(loadConfig({ file: ini }).config.replication, 3);
    assert.equal(loadConfig({}).config.replication, DEFAULTS.replication);
    assert.deepEqual(loadConfig({}).config, defaultConfig());
  });

  test("a flag may set back what a lower source changed, even to an empty value", () => {
    const ini = file("http_address = 127.0.0.1:9999\ndata_dir = /var/lib/ringdht");
    const fromFile = loadConfig({ file: ini }).config;
    assert.deepEqual(fromFile.httpAddress, { host: "127.0.0.1", port: 9999 });
    assert.equal(fromFile.dataDir, "/var/lib/ringdht");
    const off = loadConfig({
      file: ini,
      env: { RINGDHT_DATA_DIR: "" },
      flags: { http_address: "" },
    }).config;
    assert.equal(off.httpAddress, undefined, '--http "" turns it off');
    assert.equal(off.dataDir, undefined);
  });

  test("a file alias is overridden by the canonical key's flag", () => {
    const ini = file("listen_address = 127.0.0.1:6000");
    assert.equal(loadConfig({ file: ini }).config.p2pAddress.port, 6000);
    const c = loadConfig({ file: ini, flags: { p2p_address: "127.0.0.1:6001" } }).config;
    assert.equal(c.p2pAddress.port, 6001);
  });

  test("text from flags and variables converts like the file's values", () => {
    const c = loadConfig({
      env: {
        RINGDHT_BOOTSTRAPPER: "10.0.0.1:6501,[::1]:6502",
        RINGDHT_ALLOW_REMOTE_SHUTDOWN: "true",
        RINGDHT_HOSTKEY: "/etc/key.pem",
      },
      flags: { limit_loopback: "true", store_quota_bytes: "65536", log_level: "debug" },
    }).config;
    assert.deepEqual(c.bootstrappers, [
      { host: "10.0.0.1", port: 6501 },
      { host: "::1", port: 6502 },
    ]);
    assert.equal(c.allowRemoteShutdown, true);
    assert.equal(c.limitLoopback, true);
    assert.equal(c.storeQuotaBytes, 65_536);
    assert.equal(c.logLevel, "debug");
    assert.equal(c.hostkey, "/etc/key.pem");
    assert.equal(loadConfig({ flags: { hostkey: "/k" } }).config.hostkey, "/k");
  });

  test("max_store_duration from any source still caps the derived default lifetime", () => {
    assert.equal(
      loadConfig({ flags: { max_store_duration: "60" } }).config.defaultStoreSeconds,
      60,
    );
    assert.equal(
      loadConfig({ env: { RINGDHT_MAX_STORE_DURATION: "100" } }).config.defaultStoreSeconds,
      100,
    );
  });
});

describe("config sources: errors name their source", () => {
  test("a bad flag value", () => {
    assertError(
      { flags: { replication: "x" } },
      /^flag --replication: expected a whole number of copies from 1 to 16, got "x"$/,
    );
    assertError({ flags: { api_address: "nowhere" } }, /^flag --api: expected host:port/);
    assertError({ flags: { allow_remote_shutdown: "yes" } }, /^flag --allow-remote-shutdown: /);
  });

  test("a bad variable", () => {
    assertError(
      { env: { RINGDHT_REPLICATION: "3.5" } },
      /^environment RINGDHT_REPLICATION: expected a whole number of copies from 1 to 16, got "3\.5"$/,
    );
    assertError({ env: { RINGDHT_LOG_LEVEL: "loud" } }, /^environment RINGDHT_LOG_LEVEL: /);
  });

  test("a bad file value keeps the file's form of message", () => {
    const ini = file("replication = 0");
    assertError({ file: ini }, new RegExp(`^${ini}: \\[dht\\] replication: expected`));
  });

  test("the value a higher source sets is the one checked", () => {
    const ini = file("replication = lots");
    assert.equal(loadConfig({ file: ini, flags: { replication: "2" } }).config.replication, 2);
    assertError({ file: file("replication = 2"), env: { RINGDHT_REPLICATION: "0" } }, /RINGDHT_/);
  });

  test("checks across keys blame the key a source set", () => {
    assertError(
      { flags: { successor_list_length: "4" } },
      /^flag --successor-list: expected at least replication \(8\), got 4$/,
    );
    assertError(
      { env: { RINGDHT_REPLICATION: "12" } },
      /^environment RINGDHT_REPLICATION: expected at most successor_list_length \(10\), got 12$/,
    );
    assertError(
      { flags: { default_store_duration: "100", max_store_duration: "50" } },
      /^flag --default-ttl: expected at most max_store_duration \(50\), got 100$/,
    );
  });
});

describe("config sources: the environment", () => {
  test("every key has its RINGDHT_<KEY> variable", () => {
    for (const key of [...Object.keys(DEFAULTS), ...GLOBAL_KEYS]) {
      const warnings: string[] = [];
      assert.deepEqual(envValues({ [envVar(key)]: "v" }, warnings), { [key]: "v" });
      assert.deepEqual(warnings, []);
    }
  });

  test("unknown RINGDHT_ variables get a warning; other variables are not ours", () => {
    const { warnings } = loadConfig({
      env: { RINGDHT_REPLICATON: "3", RINGDHT_LISTEN_ADDRESS: "x", PATH: "/bin", HOME: "/root" },
    });
    assert.equal(warnings.length, 2, warnings.join("\n"));
    assert.match(warnings[0]!, /RINGDHT_REPLICATON ignored.*typo/);
    assert.match(warnings[1]!, /RINGDHT_LISTEN_ADDRESS ignored/);
  });

  test("a variable must be written in capitals", () => {
    const warnings: string[] = [];
    assert.deepEqual(envValues({ RINGDHT_replication: "3" }, warnings), {});
    assert.equal(warnings.length, 1);
  });
});

describe("config sources: flags", () => {
  test("every key has exactly one flag, and flags are unique", () => {
    const keys = NODE_FLAGS.map((f) => f.key);
    assert.deepEqual(new Set(keys), new Set([...Object.keys(DEFAULTS), ...GLOBAL_KEYS]));
    assert.equal(keys.length, new Set(keys).size);
    const names = NODE_FLAGS.map((f) => f.flag);
    assert.equal(names.length, new Set(names).size);
  });

  test("the common ones have the names the issue asked for", () => {
    const byKey = new Map(NODE_FLAGS.map((f) => [f.key, f.flag]));
    assert.equal(byKey.get("api_address"), "api");
    assert.equal(byKey.get("p2p_address"), "p2p");
    assert.equal(byKey.get("bootstrapper"), "bootstrap");
    assert.equal(byKey.get("http_address"), "http");
    assert.equal(byKey.get("data_dir"), "data-dir");
    assert.equal(byKey.get("stabilize_interval_ms"), "stabilize-ms");
    assert.equal(byKey.get("successor_list_length"), "successor-list");
    assert.equal(byKey.get("store_quota_bytes"), "store-quota");
  });
});

describe("examples/node.ini", () => {
  test("parses without warnings and states the defaults", () => {
    const { config, warnings } = loadConfigFile(EXAMPLE);
    assert.deepEqual(warnings, []);
    assert.deepEqual(config, defaultConfig());
  });
});
