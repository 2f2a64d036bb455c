// What the runner says about the machine and about foreign load, and the
// installation of the other DHTs at run time (never with the project).

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { PEERS_DIR } from "./system.js";

export function machineLine(): string {
  const c = cpus();
  return `${c.length} x ${c[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, Linux`;
}

/** The 1-minute load average (running + runnable tasks, all processes). */
export const load1 = (): number => loadavg()[0] ?? Number.NaN;

/** Installs hyperdht and bittorrent-dht into bench/peers/node_modules when missing. */
export function ensurePeerPackages(log: (msg: string) => void): void {
  const wanted = ["hyperdht", "bittorrent-dht"];
  if (wanted.every((p) => existsSync(`${PEERS_DIR}node_modules/${p}/package.json`))) return;
  log(`installing ${wanted.join(", ")} into ${PEERS_DIR} (npm install --prefix)`);
  execFileSync("npm", ["install", "--prefix", PEERS_DIR, "--no-audit", "--no-fund"], {
    stdio: ["ignore", "inherit", "inherit"],
  });
}

/** The python that has OpenDHT's bindings (Debian's python3-opendht), or null. */
export function findOpenDhtPython(): string | null {
  const candidates = [process.env.BENCH_PEERS_PYTHON, "/usr/bin/python3", "python3"].filter(
    (x): x is string => x !== undefined && x !== "",
  );
  for (const py of candidates) {
    const r = spawnSync(py, ["-c", "import opendht"], { stdio: "ignore" });
    if (r.status === 0) return py;
  }
  return null;
}
