// The `ringdht` CLI end to end against a spawned node: put/get of text, files,
// stdin and raw keys; exit statuses; shutdown; version and help.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { cleanupAll } from "../harness/cleanup.js";
import { runCli, startNodeProcess, tempFile } from "../harness/process.js";
import { RawClient } from "../harness/raw-socket.js";

/** Every test fails rather than hangs; teardown still runs (after hooks). */
const PER_TEST = { timeout: 20_000 };

const CONFIG = "[dht]\napi_address = 127.0.0.1:0\np2p_address = 127.0.0.1:0\n";
const PACKAGE = JSON.parse(
  readFileSync(new URL("../../../package.json", import.meta.url), "utf8"),
) as { version: string };

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

after(cleanupAll);

describe("ringdht CLI against a spawned node", () => {
  let api: string;
  let port: number;
  before(async () => {
    ({ apiPort: port } = await startNodeProcess(CONFIG));
    api = `127.0.0.1:${port}`;
  });

  test("put KEY VALUE, then get KEY prints exactly the value", PER_TEST, async () => {
    const put = await runCli(["put", "greeting", "hello, world", "--api", api]);
    assert.equal(put.status, 0, put.stderr);
    const get = await runCli(["get", "greeting", "--api", api]);
    assert.equal(get.status, 0, get.stderr);
    assert.equal(get.stdout.toString("utf8"), "hello, world");
    // A text KEY is the SHA-256 of its UTF-8 bytes.
    const c = await RawClient.connect(port);
    assert.deepEqual(await c.get(sha256("greeting")), Buffer.from("hello, world"));
    c.destroy();
  });

  test("get of a missing key exits 1 and prints nothing on stdout", PER_TEST, async () => {
    const r = await runCli(["get", "nobody-put-this", "--api", api]);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout.length, 0);
    assert.match(r.stderr, /not found/);
  });

  test("put --file with binary bytes, get --hex prints their hex", PER_TEST, async () => {
    const bytes = Buffer.concat([Buffer.from([0x00, 0xff, 0x0a, 0x0d, 0x80]), randomBytes(2000)]);
    const file = tempFile("value.bin", bytes);
    const put = await runCli(["put", "binary", "--file", file, "--ttl", "600", "--api", api]);
    assert.equal(put.status, 0, put.stderr);
    const hex = await runCli(["get", "binary", "--hex", "--api", api]);
    assert.equal(hex.status, 0, hex.stderr);
    assert.equal(hex.stdout.toString("utf8"), `${bytes.toString("hex")}\n`);
    const raw = await runCli(["get", "binary", "--api", api]);
    assert.deepEqual(raw.stdout, bytes);
  });

  test("the value comes from stdin when none is given, or when it is '-'", PER_TEST, async () => {
    const piped = randomBytes(512);
    const put = await runCli(["put", "from-stdin", "--api", api], { input: piped });
    assert.equal(put.status, 0, put.stderr);
    const get = await runCli(["get", "from-stdin", "--api", api]);
    assert.deepEqual(get.stdout, piped);

    const dash = await runCli(["put", "from-dash", "-", "--api", api], { input: "dashed\n" });
    assert.equal(dash.status, 0, dash.stderr);
    assert.equal((await runCli(["get", "from-dash", "--api", api])).stdout.toString(), "dashed\n");
  });

  test("an empty stdin value is refused with status 2", PER_TEST, async () => {
    const r = await runCli(["put", "empty", "--api", api], { input: "" });
    assert.equal(r.status, 2, r.stderr);
    assert.equal((await runCli(["get", "empty", "--api", api])).status, 1);
  });

  test("a 0x + 64 hex digit KEY is used raw", PER_TEST, async () => {
    const keyHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const put = await runCli(["put", `0x${keyHex}`, "raw-keyed", "--api", api]);
    assert.equal(put.status, 0, put.stderr);
    const c = await RawClient.connect(port);
    assert.deepEqual(await c.get(Buffer.from(keyHex, "hex")), Buffer.from("raw-keyed"));
    c.destroy();
    const get = await runCli(["get", `0x${keyHex.toUpperCase()}`, "--api", api]);
    assert.equal(get.stdout.toString(), "raw-keyed");
  });

  test("bad usage exits 2: unknown command, bad --api, bad --ttl", PER_TEST, async () => {
    for (const args of [
      ["frobnicate"],
      ["get", "k", "--api", "not-an-address"],
      ["put", "k", "v", "--ttl", "-1", "--api", api],
      ["put", "k", "v", "--ttl", "65536", "--api", api],
    ]) {
      const r = await runCli(args);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    }
  });

  test("--version prints the package.json version; --help exits 0", PER_TEST, async () => {
    const v = await runCli(["--version"]);
    assert.equal(v.status, 0);
    assert.equal(v.stdout.toString(), `${PACKAGE.version}\n`);
    const h = await runCli(["--help"]);
    assert.equal(h.status, 0, h.stderr);
    const help = h.stdout.toString();
    assert.match(help, /Usage: ringdht/);
    for (const cmd of ["node", "put", "get", "shutdown"])
      assert.match(help, new RegExp(`\\b${cmd}\\b`));
  });
});

describe("ringdht shutdown", () => {
  test(
    "makes the node exit 0; afterwards get on its port exits 3 (unreachable)",
    PER_TEST,
    async () => {
      const { node, apiPort } = await startNodeProcess(CONFIG);
      const api = `127.0.0.1:${apiPort}`;
      const r = await runCli(["shutdown", "--api", api]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(await node.finished(), { code: 0, signal: null });
      assert.ok(
        node.lines.some((l) => l.msg === "DHT SHUTDOWN received"),
        node.stderrTail(),
      );
      // Nobody listens on that port any more.
      for (const args of [["get", "k"], ["put", "k", "v"], ["shutdown"]]) {
        const dead = await runCli([...args, "--api", api]);
        assert.equal(dead.status, 3, `${args.join(" ")}: ${dead.stderr}`);
        assert.match(dead.stderr, new RegExp(api.replace(/\./g, "\\.")));
      }
    },
  );
});
