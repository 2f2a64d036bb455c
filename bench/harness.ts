// Benchmark helpers: spawn a real node process, wait for its API, summarise
// samples. Used only by `npm run bench`.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

export interface SpawnedNode {
  proc: ChildProcess;
  apiPort: number;
  stop(): Promise<void>;
}

/** Starts `ringdht node -c` on a temporary config; resolves once the API listens. */
export function spawnNode(dhtSection: string): Promise<SpawnedNode> {
  const dir = mkdtempSync(join(tmpdir(), "ringdht-bench-"));
  const file = join(dir, "node.ini");
  // The admin endpoint off: its default port would clash between benchmark nodes.
  const admin = /^\s*http_address\s*=/m.test(dhtSection) ? "" : "http_address =\n";
  writeFileSync(file, `[dht]\n${admin}${dhtSection}\n`);
  const proc = spawn(process.execPath, [CLI, "node", "-c", file], {
    env: { ...process.env, RINGDHT_LOG_FORMAT: "json" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    proc.once("exit", (code) => reject(new Error(`node exited early with ${code}`)));
    createInterface({ input: proc.stderr! }).on("line", (line) => {
      const m = /"api":"[^"]*:(\d+)","msg":"API listening"/.exec(line);
      if (m === null) return;
      resolve({
        proc,
        apiPort: Number(m[1]),
        stop: () => {
          proc.kill("SIGTERM");
          return exited;
        },
      });
    });
  });
}

export const median = (xs: number[]): number => quantile(xs, 0.5);

export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export const fmt = (n: number, digits = 0): string =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
