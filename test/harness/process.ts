// Real `ringdht` processes for end-to-end tests: a node spawned from a config
// file (JSON log lines on stderr, parsed and kept), and one-shot CLI runs.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { onCleanup } from "./cleanup.js";
import type { ApiTarget } from "./target.js";

/** The compiled CLI (tests run from dist/test/harness/). */
export const CLI_PATH = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/** One JSON log line of the node. */
export interface LogLine {
  level?: number;
  msg?: string;
  client?: string;
  reason?: string;
  api?: string;
  [field: string]: unknown;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const tempDirs: string[] = [];
process.once("exit", () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed when the test process exits. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ringdht-test-"));
  tempDirs.push(dir);
  return dir;
}

/** Writes `contents` to a new temporary file and returns its path. */
export function tempFile(name: string, contents: string | Buffer): string {
  const file = join(tempDir(), name);
  writeFileSync(file, contents);
  return file;
}

type LineWaiter = {
  match: (line: LogLine) => boolean;
  resolve: (line: LogLine) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
};

/** A spawned `ringdht node` process and everything it logged. */
export class NodeProcess {
  /** Parsed JSON lines of stderr, in order. */
  readonly lines: LogLine[] = [];
  /** Every stderr line as text (JSON or not), in order. */
  readonly stderrLines: string[] = [];
  /** Settles when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** Settles when stderr has been read to its end (every line is in `lines`). */
  readonly stderrDone: Promise<void>;
  exitStatus: ExitStatus | undefined;
  private waiters: LineWaiter[] = [];

  constructor(
    readonly proc: ChildProcess,
    readonly configFile: string,
  ) {
    this.exited = new Promise((resolve) =>
      proc.once("exit", (code, signal) => {
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      }),
    );
    const rl = createInterface({ input: proc.stderr! });
    this.stderrDone = new Promise((resolve) => rl.once("close", () => resolve()));
    rl.on("line", (text) => this.onLine(text));
    void this.stderrDone.then(() => this.failWaiters("the node's stderr ended"));
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  /** The last stderr lines, for failure messages. */
  stderrTail(n = 20): string {
    return this.stderrLines.slice(-n).join("\n");
  }

  /**
   * Resolves with the first log line (already logged or still to come) that
   * matches; rejects with the stderr tail if stderr ends or after `timeoutMs`.
   */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.exitStatus !== undefined && this.proc.stderr?.readableEnded) {
      return Promise.reject(new Error(`node exited without that line:\n${this.stderrTail()}`));
    }
    return new Promise((resolve, reject) => {
      const waiter: LineWaiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new Error(`no matching log line in ${timeoutMs} ms:\n${this.stderrTail()}`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /**
   * Sends `signal` and returns at once (SIGSTOP, SIGCONT: signals that do not
   * end the process; kill() would wait for an exit and then SIGKILL).
   */
  signal(signal: NodeJS.Signals): void {
    if (!this.proc.kill(signal)) throw new Error(`could not send ${signal} to ${this.pid}`);
  }

  /** Sends `signal` (once running) and resolves with the exit status; SIGKILL after 5 s. */
  async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<ExitStatus> {
    if (this.exitStatus !== undefined) return this.exitStatus;
    this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 5_000);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }

  /** Waits for exit and for every stderr line to be read. */
  async finished(): Promise<ExitStatus> {
    const status = await this.exited;
    await this.stderrDone;
    return status;
  }

  private onLine(text: string): void {
    this.stderrLines.push(text);
    let line: LogLine;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== "object" || parsed === null) return;
      line = parsed as LogLine;
    } catch {
      return;
    }
    this.lines.push(line);
    for (const w of this.waiters.filter((w) => w.match(line))) {
      clearTimeout(w.timer);
      w.resolve(line);
    }
    this.waiters = this.waiters.filter((w) => !w.match(line));
  }

  private failWaiters(why: string): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.reject(new Error(`${why} without that line:\n${this.stderrTail()}`));
    }
  }
}

/**
 * Spawns `ringdht node -c FILE` with JSON logs; does not wait. SIGKILLed at
 * cleanupAll(). `wrap` is a command that execs the node, e.g.
 * ["ip", "netns", "exec", NS] to run it inside a network namespace.
 */
export function spawnNodeProcess(configFile: string, wrap: readonly string[] = []): NodeProcess {
  const argv = [...wrap, process.execPath, CLI_PATH, "node", "-c", configFile];
  const proc = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, RINGDHT_LOG_FORMAT: "json" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const node = new NodeProcess(proc, configFile);
  const unregister = onCleanup(() => node.kill("SIGKILL").then(() => {}));
  void node.exited.then(unregister);
  return node;
}

/**
 * Spawns the CLI with `args` (e.g. ["node", "--api", ...]) and JSON logs,
 * `env` added to this process's environment; does not wait. SIGKILLed at
 * cleanupAll().
 */
export function spawnCliNode(args: readonly string[], env: NodeJS.ProcessEnv = {}): NodeProcess {
  const proc = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { ...process.env, RINGDHT_LOG_FORMAT: "json", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const node = new NodeProcess(proc, "");
  const unregister = onCleanup(() => node.kill("SIGKILL").then(() => {}));
  void node.exited.then(unregister);
  return node;
}

/** The port of a node's "API listening" line, once logged. */
export async function apiPortOf(node: NodeProcess, timeoutMs = 10_000): Promise<number> {
  const line = await node.waitForLine((l) => l.msg === "API listening", timeoutMs);
  const match = /:(\d+)$/.exec(String(line.api));
  if (match === null) throw new Error(`cannot read the API port from ${JSON.stringify(line)}`);
  return Number(match[1]);
}

export interface StartedNode {
  node: NodeProcess;
  /** The port from the node's "API listening" line. */
  apiPort: number;
}

/**
 * Writes `configText` to a temporary file, spawns a node on it and resolves
 * once it logs "API listening"; rejects with the stderr tail if the node exits
 * first or does not listen within `timeoutMs` (and kills it).
 */
export async function startNodeProcess(
  configText: string,
  timeoutMs = 10_000,
  wrap: readonly string[] = [],
): Promise<StartedNode> {
  const node = spawnNodeProcess(tempFile("node.ini", withoutAdmin(configText)), wrap);
  try {
    const line = await node.waitForLine((l) => l.msg === "API listening", timeoutMs);
    const match = /:(\d+)$/.exec(String(line.api));
    if (match === null) throw new Error(`cannot read the API port from ${JSON.stringify(line)}`);
    return { node, apiPort: Number(match[1]) };
  } catch (err) {
    await node.kill("SIGKILL");
    const status = node.exitStatus;
    throw new Error(
      `node did not start (exit ${status?.code ?? "?"} ${status?.signal ?? ""}): ${(err as Error).message}`,
    );
  }
}

/** A spawned node as a target of the shared API suite. */
export async function processTarget(configText: string): Promise<ApiTarget & StartedNode> {
  const started = await startNodeProcess(configText);
  return {
    ...started,
    host: "127.0.0.1",
    port: started.apiPort,
    stop: async () => {
      await started.node.kill();
    },
  };
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs the `ringdht` CLI to completion. stdin gets `input` (then EOF), or
 * /dev/null without it. Killed (and reported) after `timeoutMs`.
 */
export function runCli(
  args: readonly string[],
  opts: { input?: string | Buffer; timeoutMs?: number } = {},
): Promise<CliResult> {
  const proc = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { ...process.env, RINGDHT_LOG_FORMAT: "json" },
    stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  if (opts.input !== undefined) proc.stdin!.end(opts.input);
  const unregister = onCleanup(() => {
    proc.kill("SIGKILL");
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  proc.stdout!.on("data", (c: Buffer) => stdout.push(c));
  proc.stderr!.on("data", (c: Buffer) => stderr.push(c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(
        new Error(
          `ringdht ${args.join(" ")} still running after ${opts.timeoutMs ?? 10_000} ms:\n${Buffer.concat(stderr).toString()}`,
        ),
      );
    }, opts.timeoutMs ?? 10_000);
    proc.once("error", reject);
    // 'close' fires after the process exited and its stdio streams ended.
    proc.once("close", (status, signal) => {
      clearTimeout(timer);
      unregister();
      resolve({
        status,
        signal,
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr).toString("utf8"),
      });
    });
  });
}

/**
 * The config with the admin endpoint off unless it sets `http_address`: its default
 * port (7480) would be taken by the first node and make every other one fail.
 */
export function withoutAdmin(configText: string): string {
  if (/^\s*http_address\s*=/m.test(configText)) return configText;
  if (!/^\s*\[dht\]/m.test(configText)) return `[dht]\nhttp_address =\n${configText}`;
  return configText.replace(/^(\s*\[dht\][^\n]*)$/m, "$1\nhttp_address =");
}
