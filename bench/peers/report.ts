// Summaries of the trials: medians per system and N, ratios peer / ringdht,
// the markdown of BENCHMARKS.md and the four SVG plots.

import { cdfPoints } from "./protocol.js";
import { linePlot } from "./svg.js";
import { LOAD_STEPS, type LoadKey, type Trial } from "./trial.js";

export interface Summary {
  system: string;
  version: string;
  n: number;
  runs: number;
  failedRuns: number;
  formedNote: string;
  /** Runs in which formation or consistency was not reached in time. */
  formedTimeouts: number;
  consistentTimeouts: number;
  joinedMs: number;
  formedMs: number;
  consistentMs: number;
  rssPerNodeBytes: number;
  idleCores: number;
  getAfterStop: number;
  load: Partial<
    Record<
      LoadKey,
      { opsPerSec: number; p50us: number; p99us: number; failed: number; cdfUs: number[] }
    >
  >;
}

export function median(xs: (number | null | undefined)[]): number {
  const v = xs
    .filter((x): x is number => typeof x === "number" && Number.isFinite(x))
    .sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

export function summarise(trials: Trial[]): Summary[] {
  const groups = new Map<string, Trial[]>();
  for (const t of trials) {
    const k = `${t.system}\u0000${t.n}`;
    groups.set(k, [...(groups.get(k) ?? []), t]);
  }
  return [...groups.values()].map((ts) => {
    const ok = ts.filter((t) => t.error === undefined);
    const load: Summary["load"] = {};
    for (const s of LOAD_STEPS) {
      const key: LoadKey = `${s.op} ${s.depth}`;
      const rs = ts.map((t) => t.load[key]).filter((r) => r !== undefined);
      if (rs.length === 0) continue;
      // The CDF drawn is the pointwise median of the runs' quantiles.
      const cdf = Array.from({ length: 100 }, (_, i) => median(rs.map((r) => r.cdfUs[i])));
      load[key] = {
        opsPerSec: median(rs.map((r) => r.opsPerSec)),
        p50us: median(rs.map((r) => r.p50us)),
        p99us: median(rs.map((r) => r.p99us)),
        failed: median(rs.map((r) => r.failed)),
        cdfUs: cdf.every(Number.isFinite) ? cdf : cdfPoints([]),
      };
    }
    const first = ts[0]!;
    return {
      system: first.system,
      version: first.version,
      n: first.n,
      runs: ts.length,
      failedRuns: ts.length - ok.length,
      formedNote: ts.find((t) => t.formedNote !== "")?.formedNote ?? "",
      formedTimeouts: ok.filter((t) => t.formedMs === null).length,
      consistentTimeouts: ok.filter((t) => t.consistentMs === null).length,
      joinedMs: median(ts.map((t) => t.joinedMs)),
      formedMs: median(ts.map((t) => t.formedMs)),
      consistentMs: median(ts.map((t) => t.consistentMs)),
      rssPerNodeBytes: median(ts.map((t) => t.rssPerNodeBytes)),
      idleCores: median(ts.map((t) => t.idleCores)),
      getAfterStop: median(
        ts.map((t) =>
          t.getAfterStop.tried > 0 ? t.getAfterStop.found / t.getAfterStop.tried : null,
        ),
      ),
      load,
    };
  });
}

const f = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "—";
const ms = (n: number): string => (Number.isFinite(n) ? `${f(n)} ms` : "—");
const us = (n: number): string => (Number.isFinite(n) ? `${f(n)} µs` : "—");
const timedOut = (k: number): string => (k > 0 ? ` (${k} timed out)` : "");
const ratio = (a: number, b: number): string =>
  Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${f(a / b, 2)}×` : "—";

/** A markdown table with padded columns (readable on a terminal too). */
export function table(head: string[], rows: string[][]): string {
  const width = head.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(width[i]!)).join(" | ")} |`;
  return [line(head), line(width.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** The markdown tables for one N: the systems, the operations, the ratios. */
export function sizeSection(n: number, sums: Summary[]): string {
  const rows = sums.filter((s) => s.n === n);
  const ring = rows.find((s) => s.system === "ringdht");
  const peers = rows.filter((s) => s.system !== "ringdht");
  const overview = table(
    [
      "system",
      "runs (failed)",
      "all started",
      "formed",
      "consistent",
      "RSS / node",
      "idle CPU",
      "GET found after 20 % stop",
    ],
    rows.map((s) => [
      `${s.system} ${s.version}`,
      `${s.runs} (${s.failedRuns})`,
      ms(s.joinedMs),
      ms(s.formedMs) + timedOut(s.formedTimeouts),
      ms(s.consistentMs) + timedOut(s.consistentTimeouts),
      `${f(s.rssPerNodeBytes / 1024)} KiB`,
      `${f(s.idleCores, 3)} cores`,
      Number.isFinite(s.getAfterStop) ? `${f(s.getAfterStop * 100, 1)} %` : "—",
    ]),
  );
  const opRows: string[][] = [];
  for (const step of LOAD_STEPS) {
    const key: LoadKey = `${step.op} ${step.depth}`;
    for (const s of rows) {
      const r = s.load[key];
      opRows.push([
        step.op.toUpperCase(),
        String(step.depth),
        s.system,
        f(r?.opsPerSec ?? Number.NaN),
        us(r?.p50us ?? Number.NaN),
        us(r?.p99us ?? Number.NaN),
        f(r?.failed ?? Number.NaN),
      ]);
    }
  }
  const ops = table(["op", "in flight", "system", "ops/s", "p50", "p99", "failed"], opRows);
  let ratios = "(no ringdht result to compare with)";
  if (ring !== undefined && peers.length > 0) {
    const metric = (name: string, get: (s: Summary) => number): string[] => [
      name,
      ...peers.map((p) => ratio(get(p), get(ring))),
    ];
    const m: string[][] = [
      metric("formed (time)", (s) => s.formedMs),
      metric("consistent (time)", (s) => s.consistentMs),
      metric("RSS per node", (s) => s.rssPerNodeBytes),
      metric("idle CPU", (s) => s.idleCores),
      metric("GET found after stop", (s) => s.getAfterStop),
    ];
    for (const step of LOAD_STEPS) {
      const key: LoadKey = `${step.op} ${step.depth}`;
      const label = `${step.op.toUpperCase()} ${step.depth} in flight`;
      m.push(metric(`${label}: p50`, (s) => s.load[key]?.p50us ?? Number.NaN));
      m.push(metric(`${label}: p99`, (s) => s.load[key]?.p99us ?? Number.NaN));
      m.push(metric(`${label}: ops/s`, (s) => s.load[key]?.opsPerSec ?? Number.NaN));
    }
    ratios = table(["peer / ringdht", ...peers.map((p) => p.system)], m);
  }
  return `## N = ${f(n)}\n\n${overview}\n\n${ops}\n\nRatios (above 1: the peer takes more time, memory or CPU, or does more ops/s):\n\n${ratios}\n`;
}

/** The four plots, by file name. */
export function plots(sums: Summary[]): Record<string, string> {
  const systems = [...new Set(sums.map((s) => s.system))];
  const sizes = [...new Set(sums.map((s) => s.n))].sort((a, b) => a - b);
  const byN = (get: (s: Summary) => number) =>
    systems.map((name) => ({
      name,
      points: sizes.flatMap((n): [number, number][] => {
        const s = sums.find((x) => x.system === name && x.n === n);
        return s === undefined ? [] : [[n, get(s)]];
      }),
    }));
  const nMax = sizes[sizes.length - 1] ?? 0;
  const cdf = systems.map((name) => {
    const c = sums.find((x) => x.system === name && x.n === nMax)?.load["get 1"]?.cdfUs ?? [];
    return { name, points: c.map((v, i): [number, number] => [v / 1000, (i + 0.5) / 100]) };
  });
  const logX = sizes.length > 1;
  return {
    "formation-vs-n.svg": linePlot({
      title: "Time to formation vs N (median)",
      xLabel: "nodes (N)",
      yLabel: "ms from the first node's start",
      series: byN((s) => s.formedMs),
      logX,
    }),
    "latency-cdf.svg": linePlot({
      title: `GET latency CDF, 1 in flight, N = ${nMax}`,
      xLabel: "latency (ms, log)",
      yLabel: "fraction of GETs",
      series: cdf,
      logX: true,
      yRange: [0, 1],
    }),
    "memory-vs-n.svg": linePlot({
      title: "Memory per node vs N (RSS increase / N)",
      xLabel: "nodes (N)",
      yLabel: "KiB per node",
      series: byN((s) => s.rssPerNodeBytes / 1024),
      logX,
    }),
    "idle-cpu-vs-n.svg": linePlot({
      title: "Idle CPU of the formed network vs N",
      xLabel: "nodes (N)",
      yLabel: "cores (CPU s per s)",
      series: byN((s) => s.idleCores),
      logX,
    }),
  };
}
