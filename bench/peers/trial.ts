// One trial: one system, N nodes, in a fresh child process. The same steps,
// in the same order, for every system (definitions in docs/bench.md).

import type { ChildHandle } from "./child-handle.js";
import { load1 } from "./machine.js";
import type { LoadResult } from "./protocol.js";

export interface TrialSettings {
  seconds: number;
  idleSeconds: number;
  /** Seconds of quiet between consistency and the idle-CPU wait. */
  idleAfterSeconds: number;
  settleSeconds: number;
  probeKeys: number;
  probeSamples: number;
  preload: number;
  valueBytes: number;
  stopFraction: number;
}

export const LOAD_STEPS = [
  { op: "get", depth: 1 },
  { op: "get", depth: 64 },
  { op: "put", depth: 1 },
  { op: "put", depth: 64 },
] as const;

export type LoadKey = `${"get" | "put"} ${1 | 64}`;

export interface Trial {
  system: string;
  version: string;
  n: number;
  run: number;
  formedNote: string;
  joinedMs: number;
  formedMs: number | null;
  consistentMs: number | null;
  /** (RSS after formation and the idle wait − RSS before any node) / N. */
  rssPerNodeBytes: number;
  /** CPU time of the child over the idle wait / its length, in cores. */
  idleCores: number;
  preloaded: number;
  load: Partial<Record<LoadKey, LoadResult>>;
  stopped: number;
  getAfterStop: { found: number; tried: number };
  loadBefore: number;
  loadAfter: number;
  error?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runTrial(
  child: ChildHandle,
  system: string,
  n: number,
  run: number,
  s: TrialSettings,
  progress: (msg: string) => void,
): Promise<Trial> {
  const t: Trial = {
    system,
    version: child.version,
    n,
    run,
    formedNote: "",
    joinedMs: Number.NaN,
    formedMs: null,
    consistentMs: null,
    rssPerNodeBytes: Number.NaN,
    idleCores: Number.NaN,
    preloaded: 0,
    load: {},
    stopped: 0,
    getAfterStop: { found: 0, tried: 0 },
    loadBefore: load1(),
    loadAfter: Number.NaN,
  };
  const via = n > 1 ? 1 : 0;
  try {
    await sleep(300);
    const base = child.sample();
    const started = await child.request("start", { n }, 1_800_000);
    t.formedNote = started.note;
    t.joinedMs = started.joinedMs;
    t.formedMs = started.formedMs;
    progress(
      `${system} N=${n}: all started ${Math.round(started.joinedMs)} ms, formed ${started.formedMs === null ? "timed out" : `${Math.round(started.formedMs)} ms`}`,
    );
    const c = await child.request("consistency", {
      keys: s.probeKeys,
      samples: s.probeSamples,
      timeoutMs: 60_000,
    });
    t.consistentMs = c.consistentMs;
    // Every system gets the same quiet time first: a formed ring may still be repairing.
    await sleep(s.idleAfterSeconds * 1000);
    const before = child.sample();
    await sleep(s.idleSeconds * 1000);
    const after = child.sample();
    t.idleCores = (after.cpuSeconds - before.cpuSeconds) / s.idleSeconds;
    t.rssPerNodeBytes = (after.rssBytes - base.rssBytes) / n;
    t.preloaded = (
      await child.request("preload", { count: s.preload, valueBytes: s.valueBytes })
    ).stored;
    for (const step of LOAD_STEPS) {
      t.load[`${step.op} ${step.depth}`] = await child.request("load", {
        ...step,
        seconds: s.seconds,
        via,
        valueBytes: s.valueBytes,
      });
    }
    t.stopped = (
      await child.request("stopNodes", { fraction: s.stopFraction, spare: via })
    ).stopped;
    await sleep(s.settleSeconds * 1000);
    t.getAfterStop = await child.request("getAll", { via, depth: 16 });
    progress(
      `${system} N=${n}: consistent ${c.consistentMs === null ? "timed out" : `${Math.round(c.consistentMs)} ms`}, ` +
        `${Math.round(t.rssPerNodeBytes / 1024)} KiB/node, idle ${t.idleCores.toFixed(3)} cores, ` +
        `GET after stop ${t.getAfterStop.found}/${t.getAfterStop.tried}`,
    );
  } catch (err) {
    t.error = (err as Error).message.split("\n")[0];
    progress(`${system} N=${n}: failed: ${t.error}`);
  }
  t.loadAfter = load1();
  return t;
}
