// A small line-plot writer: series of (x, y) points on linear or log axes,
// one colour per system, a legend, ticks. Hand-written (no plotting library):
// the four plots of `npm run bench:peers` need nothing more.

export interface Series {
  name: string;
  points: [number, number][];
}

export interface PlotSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logX?: boolean;
  logY?: boolean;
  /** Fixed y range (e.g. 0..1 for a CDF); otherwise from the data. */
  yRange?: [number, number];
}

const W = 640;
const H = 400;
const M = { left: 72, right: 160, top: 40, bottom: 52 };
const COLOURS: Record<string, string> = {
  ringdht: "#d62728",
  hyperdht: "#1f77b4",
  "bittorrent-dht": "#2ca02c",
  opendht: "#9467bd",
};
const FALLBACK = ["#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"];

const esc = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function niceTicks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
    return out.filter((v) => v >= lo / 1.0001 && v <= hi * 1.0001);
  }
  const span = hi - lo || 1;
  const step0 = 10 ** Math.floor(Math.log10(span / 5));
  const step = [1, 2, 5, 10].map((m) => m * step0).find((s) => span / s <= 6) ?? step0 * 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}

function label(v: number): string {
  if (v === 0) return "0";
  if (Math.abs(v) >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 0 });
  return String(Number(v.toPrecision(3)));
}

/** The SVG text of one plot. */
export function linePlot(spec: PlotSpec): string {
  const pts = spec.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x + y));
  const usable = pts.filter(([x, y]) => (!spec.logX || x > 0) && (!spec.logY || y > 0));
  const xs = usable.map((p) => p[0]);
  const ys = usable.map((p) => p[1]);
  let [x0, x1] = xs.length === 0 ? [0, 1] : [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = spec.yRange ?? (ys.length === 0 ? [0, 1] : [Math.min(...ys), Math.max(...ys)]);
  if (!spec.logY && spec.yRange === undefined) [y0, y1] = [Math.min(0, y0), y1 * 1.08];
  if (x0 === x1) [x0, x1] = spec.logX ? [x0 / 2, x1 * 2] : [0, x1 * 2];
  if (y0 === y1) [y0, y1] = spec.logY ? [y0 / 2, y1 * 2] : [y0, y1 + 1];
  if (spec.logX) [x0, x1] = [10 ** Math.floor(Math.log10(x0)), 10 ** Math.ceil(Math.log10(x1))];
  if (spec.logY) [y0, y1] = [10 ** Math.floor(Math.log10(y0)), 10 ** Math.ceil(Math.log10(y1))];
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const fx = (x: number): number =>
    M.left + (spec.logX ? Math.log(x / x0) / Math.log(x1 / x0) : (x - x0) / (x1 - x0)) * pw;
  const fy = (y: number): number =>
    M.top + ph - (spec.logY ? Math.log(y / y0) / Math.log(y1 / y0) : (y - y0) / (y1 - y0)) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(spec.title)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left + pw / 2}" y="22" text-anchor="middle" font-size="14">${esc(spec.title)}</text>`,
    `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`,
  ];
  for (const v of niceTicks(x0, x1, spec.logX === true)) {
    const x = fx(v).toFixed(1);
    out.push(
      `<line x1="${x}" y1="${M.top}" x2="${x}" y2="${M.top + ph}" stroke="#ddd"/>`,
      `<text x="${x}" y="${M.top + ph + 16}" text-anchor="middle">${label(v)}</text>`,
    );
  }
  for (const v of niceTicks(y0, y1, spec.logY === true)) {
    const y = fy(v).toFixed(1);
    out.push(
      `<line x1="${M.left}" y1="${y}" x2="${M.left + pw}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${label(v)}</text>`,
    );
  }
  out.push(
    `<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(spec.xLabel)}</text>`,
    `<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`,
  );
  spec.series.forEach((s, i) => {
    const colour = COLOURS[s.name] ?? FALLBACK[i % FALLBACK.length]!;
    const p = s.points
      .filter(([x, y]) => Number.isFinite(x + y) && (!spec.logX || x > 0) && (!spec.logY || y > 0))
      .map(([x, y]) => `${fx(x).toFixed(1)},${fy(y).toFixed(1)}`);
    if (p.length > 1)
      out.push(
        `<polyline points="${p.join(" ")}" fill="none" stroke="${colour}" stroke-width="2"/>`,
      );
    if (p.length <= 12)
      for (const xy of p) {
        const [cx, cy] = xy.split(",");
        out.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${colour}"/>`);
      }
    const ly = M.top + 10 + i * 20;
    out.push(
      `<line x1="${M.left + pw + 12}" y1="${ly}" x2="${M.left + pw + 36}" y2="${ly}" stroke="${colour}" stroke-width="3"/>`,
      `<text x="${M.left + pw + 42}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
