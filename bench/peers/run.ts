// `npm run bench:peers`: ringdht against OpenDHT, hyperdht and bittorrent-dht
// with the same workload, one child process per system and trial, systems
// interleaved round-robin within each run. Prints the tables and writes
// BENCHMARKS.md and docs/bench/*.svg. Settings (environment):
//   BENCH_PEERS_N        node counts, comma-separated (default 100)
//   BENCH_RUNS           runs per system and N (default 3); medians are reported
//   BENCH_SECONDS        seconds per PUT/GET measurement (default 2)
//   BENCH_PEERS_IDLE     seconds of the idle-CPU wait (default 10)
//   BENCH_PEERS_QUIET    seconds of quiet before it, once the ring is consistent (default 20)
//   BENCH_PEERS_SETTLE   seconds between stopping 20 % of the nodes and the GETs (default 5)
//   BENCH_PEERS_POW      ringdht's pow_difficulty (default 8; the node's default is 16)
//   BENCH_PEERS_SYSTEMS  which peers (default hyperdht,bittorrent-dht,opendht)
//   BENCH_PEERS_WRITE=0  print only; write neither BENCHMARKS.md nor the SVGs

import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ChildHandle } from "./child-handle.js";
import { ensurePeerPackages, findOpenDhtPython, load1, machineLine } from "./machine.js";
import { plots, type Summary, sizeSection, summarise, table } from "./report.js";
import { PEERS_DIR } from "./system.js";
import { runTrial, type Trial, type TrialSettings } from "./trial.js";

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const sizes = env("BENCH_PEERS_N", "100")
  .split(",")
  .map(Number)
  .filter((n) => n > 0);
const runs = Number(env("BENCH_RUNS", "3"));
const pow = Number(env("BENCH_PEERS_POW", "8"));
const settings: TrialSettings = {
  seconds: Number(env("BENCH_SECONDS", "2")),
  idleSeconds: Number(env("BENCH_PEERS_IDLE", "10")),
  idleAfterSeconds: Number(env("BENCH_PEERS_QUIET", "20")),
  settleSeconds: Number(env("BENCH_PEERS_SETTLE", "5")),
  probeKeys: 16,
  probeSamples: 4,
  preload: 256,
  valueBytes: 100,
  stopFraction: 0.2,
};
const wanted = env("BENCH_PEERS_SYSTEMS", "hyperdht,bittorrent-dht,opendht")
  .split(",")
  .map((s) => s.trim());
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CHILD = fileURLToPath(new URL("./child.js", import.meta.url));

const progress = (msg: string): void => {
  process.stderr.write(`[bench:peers ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

ensurePeerPackages(progress);
const python = wanted.includes("opendht") ? findOpenDhtPython() : null;
const notes: string[] = [];
if (wanted.includes("opendht") && python === null)
  notes.push(
    "OpenDHT skipped: python3-opendht is not installed (`apt-get install -y python3-opendht`).",
  );

const systems = ["ringdht", ...wanted.filter((s) => s !== "opendht" || python !== null)];
const spawnChild = (system: string): Promise<ChildHandle> =>
  system === "opendht"
    ? ChildHandle.spawn(python!, [`${PEERS_DIR}opendht_driver.py`], system)
    : ChildHandle.spawn(process.execPath, [CHILD, system, String(pow)], system);

const header = [
  `Machine: ${machineLine()}; load average (1 min) at the start ${load1().toFixed(2)}.`,
  `Settings: N = ${sizes.join(", ")}; ${runs} run(s) per system and N, medians; ${settings.seconds} s per PUT/GET measurement; idle CPU over ${settings.idleSeconds} s after ${settings.idleAfterSeconds} s of quiet; GETs ${settings.settleSeconds} s after stopping ${settings.stopFraction * 100} % of the nodes; ${settings.valueBytes}-byte values, ${settings.preload} preloaded keys; ringdht pow_difficulty ${pow} (the node's default is 16).`,
  ...notes,
];
for (const line of header) console.log(line);

const trials: Trial[] = [];
const started = Date.now();
for (const n of sizes) {
  for (let run = 0; run < runs; run++) {
    // Round-robin, starting one system later each run.
    const order = systems.map((_, i) => systems[(i + run) % systems.length]!);
    for (const system of order) {
      progress(`N=${n} run ${run + 1}/${runs}: ${system}`);
      let child: ChildHandle | undefined;
      try {
        child = await spawnChild(system);
        trials.push(await runTrial(child, system, n, run, settings, progress));
      } catch (err) {
        progress(`${system} N=${n}: could not run: ${(err as Error).message}`);
      } finally {
        await child?.close().catch(() => child?.kill());
      }
    }
  }
}

const sums: Summary[] = summarise(trials);
const sections = sizes.map((n) => sizeSection(n, sums));
for (const s of sections) console.log(`\n${s}`);
const loadTable = table(
  ["system", "N", "run", "load before", "load after", "note"],
  trials.map((t) => [
    t.system,
    String(t.n),
    String(t.run + 1),
    t.loadBefore.toFixed(2),
    t.loadAfter.toFixed(2),
    t.error === undefined ? "" : `failed: ${t.error.replace(/\|/g, "/")}`,
  ]),
);
console.log(
  `\nForeign load (1-minute load average, this machine has 2 cores; the bench itself adds about 1):\n\n${loadTable}`,
);
progress(`done in ${Math.round((Date.now() - started) / 1000)} s`);

if (env("BENCH_PEERS_WRITE", "1") !== "0") {
  mkdirSync(`${ROOT}docs/bench`, { recursive: true });
  for (const [file, svg] of Object.entries(plots(sums)))
    writeFileSync(`${ROOT}docs/bench/${file}`, svg);
  const formed = sums
    .filter((s, i, all) => all.findIndex((x) => x.system === s.system) === i)
    .map((s) => `- **${s.system}** ${s.version}: formed = ${s.formedNote}.`);
  const md = [
    "# Benchmarks: ringdht against other DHTs",
    "",
    `Written by \`npm run bench:peers\` on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC (do not edit by hand; re-run to update). How to run it and every definition: \`docs/bench.md\`, section "Against other DHTs".`,
    "",
    ...header.map((h) => `${h}\n`),
    "What is measured, the same way for every system: N nodes on 127.0.0.1 in one child process per system (OpenDHT above 300 nodes: that child and helper processes it starts, since one process holds about 450 of its nodes; RSS and CPU are summed over them); **formed** = ms from the first node's start until every node is formed (per system below); **consistent** = ms from the first node's start until 16 probe values, stored through random nodes once all were formed, are each found from 4 random nodes; **RSS / node** = (child RSS after formation and the idle wait − child RSS before any node) / N; **idle CPU** = child CPU time over the idle wait; PUT and GET through node 1 (ringdht: over its TCP API; a PUT ends when the GET after it on the same connection answers); **GET found after 20 % stop** = the preloaded keys found through node 1 after 20 % of the other nodes stopped abruptly.",
    "",
    ...formed,
    "",
    ...sections,
    "## Plots",
    "",
    "![Time to formation vs N](docs/bench/formation-vs-n.svg)",
    "![GET latency CDF](docs/bench/latency-cdf.svg)",
    "![Memory per node vs N](docs/bench/memory-vs-n.svg)",
    "![Idle CPU vs N](docs/bench/idle-cpu-vs-n.svg)",
    "",
    "## Foreign load",
    "",
    "1-minute load average before and after each trial (2 cores; the trial itself adds about 1).",
    "",
    loadTable,
    "",
  ].join("\n");
  writeFileSync(`${ROOT}BENCHMARKS.md`, md);
  // The repository's formatter checks markdown too: leave the file as it would.
  spawnSync("npx", ["biome", "format", "--write", "BENCHMARKS.md"], { cwd: ROOT, stdio: "ignore" });
  progress(`wrote ${ROOT}BENCHMARKS.md and ${ROOT}docs/bench/*.svg`);
}
