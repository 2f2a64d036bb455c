// Proof-of-work cost (src/ring/pow.ts): time to solve at DEFAULT_POW_BITS and
// two bits either side, and time to verify. Each difficulty is solved for the
// same `samples` challenges (SHA-256 of "pow-bench <i>", so the attempt counts
// are the same on every machine and only the time per attempt varies), one
// fresh challenge per solve; the attempt count is geometric, so the median
// (about ln 2 · 2^bits attempts) and the 90th percentile are both shown, and
// so is ln 2 · 2^bits times the measured CPU time per attempt: the true
// median at this speed, free of the sampling noise of a few dozen solves and,
// on a shared machine, of the time other processes took the CPU (wall-clock
// figures are shown too).
// BENCH_POW_SAMPLES sets the number of solves per difficulty (default 41).
// Measurement only: nothing here asserts on time.

import { createHash } from "node:crypto";
import { DEFAULT_POW_BITS, solvePow, verifyPow } from "../src/ring/pow.js";
import { fmt, median, quantile } from "./harness.js";

const ADDR = "192.0.2.17:4100";
const VERIFY_CALLS = 20_000;

export interface PowLevel {
  bits: number;
  /** Median and 90th-percentile solve time, ms. */
  medianMs: number;
  p90Ms: number;
  /** Median attempts (candidates tried, solution included). */
  medianAttempts: number;
  /** Microseconds per attempt over all solves at this difficulty: wall clock, and CPU time. */
  usPerAttempt: number;
  cpuUsPerAttempt: number;
  /**
   * The true median at the CPU speed measured: ln 2 · 2^bits attempts, free
   * of the sampling noise of a few dozen solves and of other processes.
   */
  expectedMedianMs: number;
}

export interface PowBenchResult {
  defaultBits: number;
  levels: PowLevel[];
  /** Median over runs of the mean time of one verifyPow, µs. */
  verifyUs: number;
}

const challengeOf = (i: number): Buffer => createHash("sha256").update(`pow-bench ${i}`).digest();

function level(bits: number, samples: number): PowLevel {
  const times: number[] = [];
  const attempts: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < samples; i++) {
    const challenge = challengeOf(i);
    const t0 = performance.now();
    const solution = solvePow(challenge, ADDR, bits);
    times.push(performance.now() - t0);
    attempts.push(Number(solution.readBigUInt64BE(0)) + 1);
    if (!verifyPow(challenge, ADDR, solution, bits)) throw new Error("pow bench: bad solution");
  }
  const cpu = process.cpuUsage(cpu0);
  const total = attempts.reduce((a, b) => a + b, 0);
  const usPerAttempt = (times.reduce((a, b) => a + b, 0) * 1000) / total;
  const cpuUsPerAttempt = (cpu.user + cpu.system) / total;
  return {
    bits,
    medianMs: median(times),
    p90Ms: quantile(times, 0.9),
    medianAttempts: median(attempts),
    usPerAttempt,
    cpuUsPerAttempt,
    expectedMedianMs: (Math.LN2 * 2 ** bits * cpuUsPerAttempt) / 1000,
  };
}

function verifyRun(): number {
  const challenge = challengeOf(0);
  const solution = solvePow(challenge, ADDR, 8);
  let ok = 0;
  const t0 = performance.now();
  for (let i = 0; i < VERIFY_CALLS; i++) if (verifyPow(challenge, ADDR, solution, 8)) ok++;
  const us = ((performance.now() - t0) * 1000) / VERIFY_CALLS;
  if (ok !== VERIFY_CALLS) throw new Error("pow bench: verification failed");
  return us;
}

export async function powBench(
  runs = 5,
  samples = Number(process.env.BENCH_POW_SAMPLES ?? 41),
): Promise<PowBenchResult> {
  console.log(`\n## Proof of work (SHA3-256, ${samples} solves per difficulty, address ${ADDR})\n`);
  console.log(
    "| bits | median solve | p90 solve | median attempts | µs/attempt | CPU µs/attempt | ln 2 · 2^bits at CPU speed |",
  );
  console.log(
    "| ---: | -----------: | --------: | --------------: | ---------: | -------------: | -------------------------: |",
  );
  const levels: PowLevel[] = [];
  for (const bits of [DEFAULT_POW_BITS - 2, DEFAULT_POW_BITS, DEFAULT_POW_BITS + 2]) {
    const l = level(bits, samples);
    levels.push(l);
    const mark = bits === DEFAULT_POW_BITS ? " (default)" : "";
    console.log(
      `| ${bits}${mark} | ${fmt(l.medianMs, 1)} ms | ${fmt(l.p90Ms, 1)} ms | ${fmt(l.medianAttempts)} | ${fmt(l.usPerAttempt, 2)} | ${fmt(l.cpuUsPerAttempt, 2)} | ${fmt(l.expectedMedianMs, 1)} ms |`,
    );
    await new Promise((resolve) => setImmediate(resolve));
  }
  const verifyUs = median(Array.from({ length: Math.max(runs, 1) }, verifyRun));
  console.log(`\nverifyPow: ${fmt(verifyUs, 2)} µs per call (median of ${Math.max(runs, 1)} runs)`);
  return { defaultBits: DEFAULT_POW_BITS, levels, verifyUs };
}
