// `ringdht testnet` as a spawned process: its stdout parsed into one API
// endpoint per node, resolved as soon as it prints its "N nodes in one ring"
// line. SIGKILLed at cleanupAll().

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { onCleanup } from "./cleanup.js";
import { PortEndpoint } from "./endpoint.js";
import { CLI_PATH } from "./process.js";

export interface TestnetProcess {
  proc: ChildProcess;
  /** The nodes' API endpoints in start order ("t0", "t1", ...). */
  apis: PortEndpoint[];
  /** The line that says the ring is up. */
  readyLine: string;
  /** The admin endpoint ("host:port") when started with `--http`. */
  http: string | undefined;
  /** ms from spawn to the ready line. */
  startMs: number;
  /** Closes the connections and SIGKILLs the process. */
  stop(): Promise<void>;
}

/** Spawns `ringdht testnet -n N` on free ports and resolves at its ring line. */
export async function startTestnet(
  nodes: number,
  timeoutMs = 30_000,
  extraArgs: readonly string[] = [],
): Promise<TestnetProcess> {
  const started = performance.now();
  const proc = spawn(
    process.execPath,
    [CLI_PATH, "testnet", "-n", String(nodes), "--p2p-port", "0", "--api-port", "0", ...extraArgs],
    { env: { ...process.env, RINGDHT_LOG_FORMAT: "json" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = once(proc, "exit");
  const kill = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGKILL");
    await exited;
  };
  onCleanup(kill);
  const stderr: string[] = [];
  proc.stderr!.on("data", (c: Buffer) => stderr.push(c.toString()));
  const apis: PortEndpoint[] = [];
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  let readyLine: string | undefined;
  let http: string | undefined;
  for await (const line of createInterface({ input: proc.stdout! })) {
    const h = /admin endpoint: http:\/\/([^/\s]+)\//.exec(line);
    if (h !== null) http = h[1];
    const m = /^node (\d+): api ([\d.]+):(\d+) /.exec(line);
    if (m !== null) apis.push(new PortEndpoint(`t${m[1]}`, m[2]!, Number(m[3])));
    if (/nodes in one ring/.test(line)) {
      readyLine = line;
      break;
    }
  }
  clearTimeout(timer);
  if (readyLine === undefined || apis.length !== nodes) {
    await kill();
    throw new Error(
      `testnet -n ${nodes} printed ${apis.length} nodes and no ring line:\n${stderr.join("").slice(-2000)}`,
    );
  }
  return {
    proc,
    apis,
    readyLine,
    http,
    startMs: performance.now() - started,
    stop: async () => {
      await Promise.all(apis.map((a) => a.dropApi()));
      await kill();
    },
  };
}
