// `ringdht status` and `ringdht ring`: read a node's admin endpoint (docs/admin.md).
// status prints one node; ring walks the successors from a start endpoint,
// reading each node's /ring through the admin address its predecessor learned
// from it (GetNeighbours), or taking them all at once from a testnet's endpoint.
// Exit status 3 when an endpoint cannot be reached (or is not a ringdht one).

import { Value } from "@sinclair/typebox/value";
import { type Command, InvalidArgumentError, Option } from "commander";
import { NodeStatus, RingView } from "../admin/status.js";
import { DEFAULTS } from "../config/defaults.js";
import { type Address, formatAddress, parseAddress } from "../net/address.js";

/** A command that failed with a given exit status (main.ts prints the message). */
export class AdminCliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** How long one admin request may take. */
const FETCH_TIMEOUT_MS = 5_000;
/** Nodes a ring walk visits at most. */
const MAX_WALK = 100_000;

function httpArg(text: string): Address {
  const a = parseAddress(text);
  if (a === undefined) throw new InvalidArgumentError("expected host:port (IPv6 as [host]:port)");
  return a;
}

const httpOption = () =>
  new Option("--http <host:port>", "the node's admin endpoint")
    .argParser(httpArg)
    .default(parseAddress(DEFAULTS.http_address), DEFAULTS.http_address);

/** GETs `path` from an admin endpoint as JSON; AdminCliError(3) when it cannot. */
async function getJson(endpoint: string, path: string): Promise<{ code: number; body: unknown }> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(`http://${endpoint}${path}`, {
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    // The body too: an endpoint that stalls or breaks off mid-answer is unreachable as well.
    text = await res.text();
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new AdminCliError(`cannot reach the admin endpoint at ${endpoint}: ${why}`, 3);
  }
  if (res.status !== 200) return { code: res.status, body: text.trim() };
  try {
    return { code: 200, body: JSON.parse(text) as unknown };
  } catch {
    throw new AdminCliError(
      `${endpoint}${path} did not answer JSON: not a ringdht admin endpoint?`,
      3,
    );
  }
}

const kib = (n: number): string =>
  n < 1024
    ? `${n} B`
    : n < 1024 ** 2
      ? `${(n / 1024).toFixed(1)} KiB`
      : `${(n / 1024 ** 2).toFixed(1)} MiB`;
const short = (id: string) => id.slice(0, 8);

/** A readable summary of one node's status. */
export function formatStatus(s: NodeStatus): string {
  const lines: string[] = [];
  lines.push(
    `node ${short(s.id)} (ringdht ${s.version}), up ${s.uptimeSeconds} s, ${s.health}${s.ready ? " (ready)" : ` (not ready: ${s.reason ?? "?"})`}`,
  );
  const a = s.addresses;
  lines.push(`  addresses    p2p ${a.p2p}  api ${a.api ?? "-"}  http ${a.http ?? "-"}`);
  const p = s.predecessor;
  lines.push(
    `  predecessor  ${p === null ? "none" : `${short(p.id)} ${p.addr}${p.confirmed ? " (confirmed)" : " (not confirmed)"}`}`,
  );
  lines.push(
    `  successors   ${s.successors.length === 0 ? "none (alone)" : s.successors.map((x) => `${short(x.id)} ${x.addr}`).join(", ")}`,
  );
  const filled = s.fingers.reduce(
    (n, f) => n + f.ranges.reduce((m, [from, to]) => m + to - from + 1, 0),
    0,
  );
  lines.push(`  fingers      ${s.fingers.length} distinct peers in ${filled} of 256 entries`);
  for (const f of s.fingers)
    lines.push(
      `               ${short(f.id)} ${f.addr}  ${f.ranges.map(([x, y]) => (x === y ? `${x}` : `${x}-${y}`)).join(", ")}`,
    );
  const r = s.records;
  lines.push(`  records      ${r.count} (${kib(r.bytes)} of ${kib(r.quotaBytes)})`);
  const rep = s.replication;
  lines.push(
    `  replication  ${rep.configured} copies, r = ${rep.r}, data plane ${rep.fresh ? "fresh" : "catching up"}, ${rep.syncedReplicas} of ${rep.replicas} replicas synced since the last change`,
  );
  const ae = rep.antiEntropy;
  lines.push(
    `  anti-entropy ${ae.syncs} syncs, ${ae.mismatches} mismatches, ${ae.recordsPulled} records pulled, ${ae.recordsPushed} pushed`,
  );
  const ring = s.ring;
  lines.push(
    `  ring         ~${ring.estimatedSize} nodes (estimated), ${ring.lookups} lookups (mean ${ring.meanLookupHops} hops), ${ring.lostPeers} lost peers`,
  );
  lines.push(
    `  bans         ${s.bans.length === 0 ? "none" : s.bans.map((b) => `${b.group} (${b.offence}, until ${new Date(b.until).toISOString()})`).join(", ")}`,
  );
  if (s.scores.length > 0)
    lines.push(`  scores       ${s.scores.map((x) => `${x.group} ${x.score}`).join(", ")}`);
  return `${lines.join("\n")}\n`;
}

async function runStatus(o: { http: Address; json?: boolean; node?: string }): Promise<void> {
  const endpoint = formatAddress(o.http);
  const path = o.node === undefined ? "/status" : `/status?node=${encodeURIComponent(o.node)}`;
  const { code, body } = await getJson(endpoint, path);
  if (code === 404) throw new AdminCliError(`no such node at ${endpoint}: ${o.node ?? ""}`, 1);
  if (code !== 200) throw new AdminCliError(`${endpoint}/status answered ${code}: ${body}`, 3);
  if (!Value.Check(NodeStatus, body))
    throw new AdminCliError(`${endpoint}/status is not a ringdht status`, 3);
  process.stdout.write(o.json === true ? `${JSON.stringify(body, null, 2)}\n` : formatStatus(body));
}

/** One row of a ring walk: a node's status, or a node that could not be read. */
export type WalkRow = { status: NodeStatus } | { addr: string; id: string; problem: string };

/** Walks the ring by successors from the endpoint's first node; see the file comment. */
export async function walkRing(endpoint: string): Promise<{ rows: WalkRow[]; complete: boolean }> {
  const known = new Map<string, NodeStatus>();
  const tried = new Set<string>();
  // `expect`: an endpoint a peer advertised speaks only for that peer, so it cannot
  // pass off rows for other nodes; the endpoint given on the command line speaks for all.
  const read = async (at: string, expect?: string): Promise<NodeStatus[]> => {
    tried.add(at);
    const { code, body } = await getJson(at, "/ring");
    if (code !== 200 || !Value.Check(RingView, body))
      throw new AdminCliError(`${at}/ring is not a ringdht ring view (${code})`, 3);
    const nodes = body.nodes.filter((n) => expect === undefined || n.addresses.p2p === expect);
    for (const n of nodes) known.set(n.addresses.p2p, n);
    return nodes;
  };
  const first = (await read(endpoint))[0];
  if (first === undefined) throw new AdminCliError(`${endpoint} describes no node`, 3);
  const rows: WalkRow[] = [];
  const seen = new Set<string>();
  let complete = true;
  let cur = first;
  while (rows.length < MAX_WALK) {
    rows.push({ status: cur });
    seen.add(cur.addresses.p2p);
    let next: NodeStatus | undefined;
    // The first successor whose status can be read; the ones skipped are listed as unreadable.
    for (const s of cur.successors) {
      if (s.addr === first.addresses.p2p || seen.has(s.addr)) break;
      let st = known.get(s.addr);
      if (st === undefined && s.http !== null && !tried.has(s.http))
        st = await read(s.http, s.addr)
          .then(() => known.get(s.addr))
          .catch(() => undefined);
      if (st !== undefined) {
        next = st;
        break;
      }
      complete = false;
      seen.add(s.addr);
      rows.push({
        addr: s.addr,
        id: s.id,
        problem:
          s.http === null ? "admin endpoint unknown" : `admin endpoint ${s.http} unreachable`,
      });
    }
    if (next === undefined) break;
    cur = next;
  }
  return { rows, complete };
}

async function runRing(o: { http: Address; json?: boolean }): Promise<void> {
  const { rows, complete } = await walkRing(formatAddress(o.http));
  if (o.json === true) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  } else {
    const out = [
      `${"#".padStart(4)}  ${"id".padEnd(8)}  ${"p2p".padEnd(21)}  ${"http".padEnd(21)}  ${"records".padStart(7)}  health`,
    ];
    let records = 0;
    let healthy = 0;
    let nodes = 0;
    rows.forEach((row, i) => {
      const n = String(i).padStart(4);
      if ("status" in row) {
        const s = row.status;
        nodes++;
        records += s.records.count;
        if (s.ready) healthy++;
        out.push(
          `${n}  ${short(s.id)}  ${s.addresses.p2p.padEnd(21)}  ${(s.addresses.http ?? "-").padEnd(21)}  ${String(s.records.count).padStart(7)}  ${s.health}${s.ready ? "" : ` (${s.reason ?? "?"})`}`,
        );
      } else out.push(`${n}  ${short(row.id)}  ${row.addr.padEnd(21)}  ${row.problem}`);
    });
    out.push(
      `${nodes} nodes, ${records} records (with copies), ${healthy} ready${complete ? "" : "; some nodes could not be read"}`,
    );
    process.stdout.write(`${out.join("\n")}\n`);
  }
  if (!complete) throw new AdminCliError("the ring walk could not read every node", 3);
}

/** Adds `status` and `ring` to the command line. */
export function addAdminCommands(cli: Command): void {
  cli
    .command("status")
    .description("print one node's state from its admin endpoint (exit status 3: unreachable)")
    .addOption(httpOption())
    .option("--json", "print the status as JSON")
    .option("--node <which>", "a testnet's node: index, P2P address or ID prefix")
    .action(runStatus);
  cli
    .command("ring")
    .description("walk the ring by successors through the admin endpoints and list every node")
    .addOption(httpOption())
    .option("--json", "print the walk as JSON")
    .action(runRing);
}
