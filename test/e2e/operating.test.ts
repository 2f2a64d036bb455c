// Operating ringdht with real processes: the README's three-node example as
// written there (on free ports), configuration precedence through the CLI,
// Ctrl-C through npm, busy ports (exit 4), and the CLI's one-line errors.

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { createInterface } from "node:readline";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { cleanupAll, onCleanup } from "../harness/cleanup.js";
import { quietPort } from "../harness/ports.js";
import {
  apiPortOf,
  CLI_PATH,
  type NodeProcess,
  runCli,
  spawnCliNode,
  tempFile,
} from "../harness/process.js";

const PER_TEST = { timeout: 30_000 };
const REPO = fileURLToPath(new URL("../../../", import.meta.url));

after(cleanupAll);

/** Splits a shell line into words (double and single quotes; no escapes). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** The `npx ringdht ...` lines of the README's "Three nodes on one machine" section. */
function readmeExample(): string[][] {
  const readme = readFileSync(`${REPO}README.md`, "utf8");
  const start = readme.indexOf("## Three nodes on one machine");
  assert.ok(start >= 0, "README has the three-node section");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  return section
    .split("\n")
    .filter((l) => l.startsWith("npx ringdht "))
    .map((l) => words(l.replace(/\s+#.*$/, "")).slice(2));
}

/** Each distinct 127.0.0.1:PORT in the commands replaced by a free port. */
async function onFreePorts(commands: string[][]): Promise<string[][]> {
  const map = new Map<string, string>();
  for (const word of commands.flat()) {
    for (const [address] of word.matchAll(/127\.0\.0\.1:\d+/g)) {
      if (!map.has(address)) map.set(address, `127.0.0.1:${await quietPort()}`);
    }
  }
  return commands.map((c) => c.map((w) => w.replace(/127\.0\.0\.1:\d+/g, (a) => map.get(a)!)));
}

/** A server holding 127.0.0.1:port; closed at cleanup. */
async function hold(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return server;
}

/** Exactly `n` non-empty stderr lines and no stack trace. */
function stderrLines(stderr: string, n: number): string[] {
  const lines = stderr.split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.length, n, `expected ${n} stderr line(s), got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  return lines;
}

describe("the README's three nodes on one machine", () => {
  test("run as written: a put through node 3 is read through node 1", PER_TEST, async () => {
    const commands = await onFreePorts(readmeExample());
    const nodes = commands.filter((c) => c[0] === "node");
    const [put, get] = commands.filter((c) => c[0] !== "node");
    assert.equal(nodes.length, 3, JSON.stringify(commands));
    assert.ok(nodes.slice(1).every((c) => c.includes("--bootstrap")));
    assert.equal(put?.[0], "put");
    assert.equal(get?.[0], "get");
    const apiOf = (c: string[]) => c[c.indexOf("--api") + 1];
    assert.equal(apiOf(put!), apiOf(nodes[2]!), "the put goes through node 3");
    assert.equal(apiOf(get!), apiOf(nodes[0]!), "the get goes through node 1");

    const running: NodeProcess[] = [];
    for (const args of nodes) {
      const node = spawnCliNode(args);
      running.push(node);
      const port = await apiPortOf(node, 20_000);
      assert.equal(`127.0.0.1:${port}`, apiOf(args));
    }
    const stored = await runCli(put!);
    assert.equal(stored.status, 0, stored.stderr);
    const read = await runCli(get!);
    assert.equal(read.status, 0, read.stderr);
    assert.equal(read.stdout.toString("utf8"), put![2], "piped: exactly the value");

    // On a terminal the value ends with a newline (script gives get a pty).
    const tty = spawnSync(
      "script",
      ["-qec", [process.execPath, CLI_PATH, ...get!].map((w) => `'${w}'`).join(" "), "/dev/null"],
      { encoding: "utf8", timeout: 15_000 },
    );
    assert.equal(tty.status, 0, tty.stderr);
    assert.equal(tty.stdout, `${put![2]}\r\n`);

    for (const node of running)
      assert.deepEqual(await node.kill("SIGTERM"), { code: 0, signal: null });
  });
});

describe("configuration through the CLI", () => {
  test("flags over environment over file over defaults", PER_TEST, async () => {
    const [fileApi, envApi, flagApi, fileP2p, envP2p] = await Promise.all(
      Array.from({ length: 5 }, () => quietPort()),
    );
    const file = tempFile(
      "node.ini",
      `[dht]\napi_address = 127.0.0.1:${fileApi}\np2p_address = 127.0.0.1:${fileP2p}\nlog_level = debug\nhttp_address =\n`,
    );
    const node = spawnCliNode(["node", "-c", file, "--api", `127.0.0.1:${flagApi}`], {
      RINGDHT_API_ADDRESS: `127.0.0.1:${envApi}`,
      RINGDHT_P2P_ADDRESS: `127.0.0.1:${envP2p}`,
    });
    assert.equal(await apiPortOf(node), flagApi, "the flag's API address");
    const p2p = await node.waitForLine((l) => l.msg === "peer port listening");
    assert.equal(p2p.p2p, `127.0.0.1:${envP2p}`, "the environment's P2P address");
    // Debug lines: the file's log level, over the default (info).
    assert.ok(
      node.lines.some((l) => l.level === 20),
      node.stderrTail(),
    );
    assert.deepEqual(await node.kill("SIGINT"), { code: 0, signal: null });
  });

  test("a bad flag or variable: exit 2, one line naming it", PER_TEST, async () => {
    const flag = await runCli(["node", "--replication", "x"]);
    assert.equal(flag.status, 2, flag.stderr);
    assert.equal(
      stderrLines(flag.stderr, 1)[0],
      'ringdht: flag --replication: expected a whole number of copies from 1 to 16, got "x"',
    );
    const env = spawnSync(process.execPath, [CLI_PATH, "node"], {
      env: { ...process.env, RINGDHT_STABILIZE_INTERVAL_MS: "fast" },
      encoding: "utf8",
      timeout: 10_000,
    });
    assert.equal(env.status, 2, env.stderr);
    assert.match(
      stderrLines(env.stderr, 1)[0]!,
      /^ringdht: environment RINGDHT_STABILIZE_INTERVAL_MS: expected milliseconds from 10 to 60000, got "fast"$/,
    );
  });
});

describe("signals", () => {
  const LOOPBACK = ["--api", "127.0.0.1:0", "--http", ""];

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    test(
      `${signal} again while leaving (npm forwards what the node already got): exit 0`,
      PER_TEST,
      async () => {
        // The node's successor is SIGSTOPped, so the leave waits on it for a
        // while: time for the second signal to arrive mid-leave.
        const p2p = await quietPort();
        const node = spawnCliNode(["node", ...LOOPBACK, "--p2p", `127.0.0.1:${p2p}`]);
        await apiPortOf(node);
        const peer = spawnCliNode([
          "node",
          ...LOOPBACK,
          "--p2p",
          "127.0.0.1:0",
          "-b",
          `127.0.0.1:${p2p}`,
        ]);
        await apiPortOf(peer);
        peer.signal("SIGSTOP");
        node.signal(signal);
        await node.waitForLine((l) => l.msg === "leaving");
        node.signal(signal);
        assert.deepEqual(await node.finished(), { code: 0, signal: null }, node.stderrTail());
        peer.signal("SIGCONT");
        await peer.kill("SIGKILL");
      },
    );
  }

  /** Runs `command` in its own process group, sends SIGINT to the group once the node listens. */
  async function ctrlC(command: string, args: string[]): Promise<number | null> {
    // Without a script shell inherited from an npm running the tests: the repository's .npmrc decides.
    const { npm_config_script_shell: _inherited, ...env } = process.env;
    const proc: ChildProcess = spawn(command, args, {
      cwd: REPO,
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
      env: {
        ...env,
        RINGDHT_API_ADDRESS: "127.0.0.1:0",
        RINGDHT_P2P_ADDRESS: "127.0.0.1:0",
        RINGDHT_HTTP_ADDRESS: "",
        RINGDHT_LOG_FORMAT: "json",
      },
    });
    const exited = once(proc, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    onCleanup(() => {
      if (proc.exitCode === null && proc.signalCode === null) process.kill(-proc.pid!, "SIGKILL");
    });
    const tail: string[] = [];
    for await (const line of createInterface({ input: proc.stderr! })) {
      tail.push(line);
      if (line.includes('"API listening"')) break;
    }
    process.kill(-proc.pid!, "SIGINT"); // as a terminal's Ctrl-C: the whole group
    const [code, sig] = await exited;
    assert.equal(sig, null, `killed by ${sig}:\n${tail.join("\n")}`);
    return code;
  }

  test("Ctrl-C to `npm start`'s process group: npm exits 0", PER_TEST, async () => {
    assert.equal(await ctrlC("npm", ["start", "--silent"]), 0);
  });

  test("Ctrl-C to `npx ringdht node`'s process group: exit 0", PER_TEST, async () => {
    assert.equal(await ctrlC("npx", ["ringdht", "node"]), 0);
  });
});

describe("a busy port: exit 4, one line", () => {
  test("node: the API address", PER_TEST, async () => {
    const port = await quietPort();
    await hold(port);
    const args = ["node", "--api", `127.0.0.1:${port}`, "--p2p", "127.0.0.1:0", "--http", ""];
    const quiet = await runCli([...args, "--log-level", "warn"]);
    assert.equal(quiet.status, 4, quiet.stderr);
    assert.deepEqual(stderrLines(quiet.stderr, 1), [
      `ringdht: 127.0.0.1:${port} (api_address) is already in use`,
    ]);
    // At the default level the node's own log lines come first; the error is still one line.
    const loud = await runCli(args);
    assert.equal(loud.status, 4, loud.stderr);
    const own = loud.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("{"));
    assert.deepEqual(own, [`ringdht: 127.0.0.1:${port} (api_address) is already in use`]);
    assert.doesNotMatch(loud.stderr, /\n\s+at /);
  });

  test("node: the P2P address", PER_TEST, async () => {
    const port = await quietPort();
    await hold(port);
    const r = await runCli(["node", "--p2p", `127.0.0.1:${port}`, "--api", "127.0.0.1:0"]);
    assert.equal(r.status, 4, r.stderr);
    assert.deepEqual(stderrLines(r.stderr, 1), [
      `ringdht: 127.0.0.1:${port} (p2p_address) is already in use`,
    ]);
  });

  test("testnet: an API port and a P2P port", PER_TEST, async () => {
    const port = await quietPort();
    await hold(port);
    const api = await runCli(["testnet", "-n", "1", "--api-port", String(port), "--p2p-port", "0"]);
    assert.equal(api.status, 4, api.stderr);
    assert.deepEqual(stderrLines(api.stderr, 1), [
      `ringdht: 127.0.0.1:${port} (API port of testnet node 0) is already in use`,
    ]);
    const p2p = await runCli(["testnet", "-n", "1", "--api-port", "0", "--p2p-port", String(port)]);
    assert.equal(p2p.status, 4, p2p.stderr);
    assert.deepEqual(stderrLines(p2p.stderr, 1), [
      `ringdht: 127.0.0.1:${port} (P2P port of testnet node 0) is already in use`,
    ]);
  });
});

describe("usage errors: one line and a pointer to --help", () => {
  test("a malformed raw KEY is refused, not hashed (nothing is sent)", PER_TEST, async () => {
    const nobody = `127.0.0.1:${await quietPort()}`;
    for (const args of [
      ["get", "0x1234", "--api", nobody],
      ["put", "0xabc", "value", "--api", nobody],
    ]) {
      const r = await runCli(args);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      const [line, hint] = stderrLines(r.stderr, 2);
      assert.match(line!, /^ringdht: .*malformed raw KEY "0x(1234|abc)"/);
      assert.equal(hint, `Run "ringdht ${args[0]} --help" for usage.`);
    }
  });

  test(
    "unknown command, missing argument, bad option value, unknown option",
    PER_TEST,
    async () => {
      for (const [args, command] of [
        [["frobnicate"], undefined],
        [["get"], "get"],
        [["put", "k", "v", "--ttl", "-1"], "put"],
        [["node", "--no-such-flag"], "node"],
      ] as const) {
        const r = await runCli(args);
        assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
        const [line, hint] = stderrLines(r.stderr, 2);
        assert.match(line!, /^ringdht: /);
        assert.equal(
          hint,
          `Run "ringdht${command === undefined ? "" : ` ${command}`} --help" for usage.`,
        );
        assert.equal(r.stdout.length, 0);
      }
    },
  );
});
