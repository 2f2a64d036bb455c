// `ringdht testnet` under a low limit on open files (`ulimit -n`): a testnet
// that cannot fit is refused before any node starts, naming the numbers; one
// that fits runs (the control); and a process that runs out anyway (here: the
// descriptors it inherited) ends with one clear line and status 2, not
// Node's stack trace halfway through the joins (as before: exit 1).

import assert from "node:assert/strict";
import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { after, test } from "node:test";
import { openFileLimit } from "../../src/cli/fd-limit.js";
import { cleanupAll, onCleanup } from "../harness/cleanup.js";
import { CLI_PATH } from "../harness/process.js";

after(cleanupAll);

// The tests lower the limit with `ulimit -n`, which needs /proc to read and a hard
// limit of at least 1024 to lower from (this process's limit is its hard one: Node
// raised the soft limit at start).
const own = openFileLimit();
const skip = own === undefined || own < 1024 ? `open-files limit ${own ?? "unknown"}` : false;

/** `ringdht testnet -n N` on free ports with the open-files limit set to `limit` first. */
function testnetUnder(limit: number, nodes: number, extraFds = 0): ChildProcess {
  const stdio: StdioOptions = ["ignore", "pipe", "pipe", ...Array<"pipe">(extraFds).fill("pipe")];
  const args = ["testnet", "-n", String(nodes), "--p2p-port", "0", "--api-port", "0"];
  const proc = spawn(
    "sh",
    ["-c", `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, CLI_PATH, ...args],
    { env: { ...process.env, RINGDHT_LOG_FORMAT: "json" }, stdio },
  );
  onCleanup(() => {
    proc.kill("SIGKILL");
  });
  return proc;
}

async function ended(
  proc: ChildProcess,
): Promise<{ code: number | null; out: string; err: string }> {
  let out = "";
  let err = "";
  proc.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  proc.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const [code] = (await once(proc, "close")) as [number | null];
  return { code, out, err };
}

/** stderr without the nodes' JSON log lines and progress lines. */
const ownLines = (err: string) =>
  err.split("\n").filter((l) => l !== "" && !l.startsWith("{") && !/nodes joined/.test(l));

test("a testnet that cannot fit the limit is refused at once, with the numbers", {
  timeout: 30_000,
  skip,
}, async () => {
  const r = await ended(testnetUnder(256, 2000));
  assert.equal(r.code, 2);
  assert.equal(r.out, "", "no node started");
  const lines = ownLines(r.err);
  assert.equal(lines.length, 1, r.err);
  assert.match(
    lines[0]!,
    /^ringdht: 2000 nodes need at least 4064 file descriptors .* this process may open 256: raise the hard limit on open files to 4064 .*, or run at most 96 nodes$/,
  );
});

test("control: under the same limit, a testnet that fits forms and stops on SIGINT", {
  timeout: 60_000,
  skip,
}, async () => {
  const proc = testnetUnder(256, 20);
  const exited = once(proc, "exit");
  let ready = "";
  for await (const line of createInterface({ input: proc.stdout! })) {
    if (/nodes in one ring/.test(line)) {
      ready = line;
      break;
    }
  }
  assert.match(ready, /^20 nodes in one ring after/);
  proc.kill("SIGINT");
  const [code] = await exited;
  assert.equal(code, 0);
});

test("running out of descriptors while the nodes start ends with one line and status 2", {
  timeout: 60_000,
  skip,
}, async () => {
  // 480 nodes fit 1024 by the count (2 each and the reserve), but 400 inherited pipes
  // leave room for about 300: the listeners run out partway through.
  const r = await ended(testnetUnder(1024, 480, 400));
  const lines = ownLines(r.err);
  assert.equal(r.code, 2, r.err.slice(-2000));
  assert.deepEqual(lines, [
    "ringdht: ran out of file descriptors (EMFILE) while the 480 nodes started; this process may open 1024: raise the hard limit on open files (ulimit -Hn where permitted, LimitNOFILE= for a systemd unit, docker run --ulimit nofile=N), or run fewer nodes",
  ]);
});
