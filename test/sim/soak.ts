// The soak runner: many seeds of the checker scenario, or one seed replayed
// verbosely. Env: SOAK_SEEDS (default 2000) seeds from SOAK_FROM (default 1);
// SEED=<n> replays seed n and prints its fault schedule and violations;
// SIM_FAULTS=crash,pause,... limits the nemesis to those faults (default all);
// SOAK_REPLICATION=n runs the nodes with n copies (default 3, harsher than the
// shipped 8).
// Exits 1 when any seed had a violation (or crashed), 0 otherwise.

import { countByKind, type Violation } from "./checker.js";
import type { History } from "./history.js";
import { FAULTS, type Fault } from "./nemesis.js";
import { DEFAULT_SCENARIO, replayCommand, runScenario, type ScenarioOptions } from "./scenario.js";

/** Failing seeds listed one per line in the summary; the rest by number only. */
const LISTED = 50;

const envInt = (name: string, fallback: number): number => {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${text} is not a whole number`);
  return n;
};

function faultsFromEnv(): readonly Fault[] {
  const text = process.env.SIM_FAULTS;
  if (text === undefined || text === "") return FAULTS;
  const wanted = text.split(",").map((f) => f.trim());
  const unknown = wanted.filter((f) => !(FAULTS as readonly string[]).includes(f));
  if (unknown.length > 0)
    throw new Error(`SIM_FAULTS: unknown ${unknown.join(", ")}; know ${FAULTS.join(",")}`);
  return FAULTS.filter((f) => wanted.includes(f));
}

const scenario: ScenarioOptions = {
  ...DEFAULT_SCENARIO,
  faults: faultsFromEnv(),
  replication: Number(process.env.SOAK_REPLICATION ?? DEFAULT_SCENARIO.replication),
};

function describeRun(history: History): string {
  const puts = history.ops.filter((o) => o.kind === "put");
  const gets = history.ops.filter((o) => o.kind === "get");
  const count = (pred: (o: (typeof gets)[number]) => boolean) => gets.filter(pred).length;
  return [
    `ops: ${puts.length} PUT (${puts.filter((p) => p.ok).length} acked), ${gets.length} GET`,
    `(${count((g) => g.outcome === "found")} found, ${count((g) => g.outcome === "absent")} absent,`,
    `${count((g) => g.outcome === "unavailable")} unavailable);`,
    `${history.finalReads.length} final reads; ${history.faults.length} fault events`,
  ].join(" ");
}

async function replay(seed: number): Promise<number> {
  const started = performance.now();
  const { history, violations, ring } = await runScenario(seed, scenario);
  console.log(`seed ${seed}: ${describeRun(history)}`);
  console.log(`ring after quiescence: ${JSON.stringify(ring)}`);
  console.log("fault schedule (ms since the ring formed):");
  for (const line of history.faults) console.log(`  ${line}`);
  console.log(`violations: ${violations.length} ${JSON.stringify(countByKind(violations))}`);
  for (const v of violations) console.log(`  ${v.kind} ${v.key}: ${v.detail}`);
  console.log(`wall time ${Math.round(performance.now() - started)} ms`);
  return violations.length > 0 ? 1 : 0;
}

async function soak(from: number, seeds: number): Promise<number> {
  const started = performance.now();
  const total: Violation[] = [];
  const failing: { seed: number; counts: string; kinds: string[] }[] = [];
  const crashed: { seed: number; error: string }[] = [];
  for (let seed = from; seed < from + seeds; seed++) {
    try {
      const { violations } = await runScenario(seed, scenario);
      total.push(...violations);
      const counts = countByKind(violations);
      if (violations.length > 0) {
        failing.push({ seed, counts: JSON.stringify(counts), kinds: Object.keys(counts) });
        console.log(`  seed ${seed}: ${JSON.stringify(counts)}`);
      }
    } catch (err) {
      crashed.push({ seed, error: err instanceof Error ? err.message : String(err) });
    }
    const done = seed - from + 1;
    if (done % 10 === 0 || done === seeds) {
      const secs = Math.round((performance.now() - started) / 1000);
      console.log(`${done}/${seeds} seeds, ${failing.length} failing, ${secs} s`);
    }
  }
  console.log(`\nsummary: ${seeds} seeds from ${from}, ${failing.length} failing`);
  console.log(`violations by kind: ${JSON.stringify(countByKind(total))}`);
  const seedsWith: Record<string, number> = {};
  for (const f of failing) for (const kind of f.kinds) seedsWith[kind] = (seedsWith[kind] ?? 0) + 1;
  console.log(`seeds with each kind: ${JSON.stringify(seedsWith)}`);
  for (const f of failing.slice(0, LISTED))
    console.log(`  seed ${f.seed}: ${f.counts}  replay: ${replayCommand(f.seed, scenario.faults)}`);
  if (failing.length > LISTED)
    console.log(
      `  ... and ${failing.length - LISTED} more: ${failing
        .slice(LISTED)
        .map((f) => f.seed)
        .join(" ")}`,
    );
  for (const c of crashed) console.log(`  seed ${c.seed} crashed: ${c.error}`);
  return failing.length + crashed.length > 0 ? 1 : 0;
}

// `node --test dist/test/` loads every module under dist/test as a test file;
// the soak only runs when started directly (npm run soak).
if (process.env.NODE_TEST_CONTEXT === undefined) {
  const one = process.env.SEED;
  process.exitCode =
    one !== undefined && one !== ""
      ? await replay(envInt("SEED", 0))
      : await soak(envInt("SOAK_FROM", 1), envInt("SOAK_SEEDS", 2000));
}
