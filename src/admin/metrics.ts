// A node's Prometheus metrics (names in docs/admin.md), in a registry of its
// own: several nodes in one process (a testnet, tests) never share or clash.
// The node reports events through the NodeObserver port (ports.ts), so chord/
// and net/ never see prom-client; levels (records, connections, bans) are read
// when scraped. Every metric carries a `node` label (the short ID), so a
// testnet's registries can be aggregated into one exposition.

import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ApiOutcome, NodeObserver, PeerCallFailure, RepairKind } from "../ports.js";
import type { RpcName } from "../wire/peer.js";

/** Levels read at scrape time. */
export interface MetricSources {
  records(): { count: number; bytes: number };
  apiConnections(): number;
  peerConnections(): { inbound: number; outbound: number };
  bannedGroups(): number;
  ready(): boolean;
  estimatedRingSize(): number;
  successors(): number;
}

export class NodeMetrics implements NodeObserver {
  readonly registry = new Registry();
  private readonly apiRequests: Counter<"type" | "outcome">;
  private readonly apiSeconds: Histogram<"type">;
  private readonly hops: Histogram;
  private readonly repairRecords: Counter<"kind" | "direction">;
  private readonly repairBytes: Counter<"kind" | "direction">;
  private readonly bansTotal: Counter;
  /** Per-RPC counts, kept as plain numbers (every peer call counts) and handed to prom-client when scraped. */
  private readonly calls: Cells = new Map();
  private readonly served: Cells = new Map();

  constructor(node: string, sources: MetricSources) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node });
    this.apiRequests = new Counter({
      name: "ringdht_api_requests_total",
      help: "API requests answered, by type and outcome",
      labelNames: ["type", "outcome"],
      registers,
    });
    this.apiSeconds = new Histogram({
      name: "ringdht_api_request_duration_seconds",
      help: "API request latency, from arrival to answer (PUT: until stored)",
      labelNames: ["type"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.hops = new Histogram({
      name: "ringdht_lookup_hops",
      help: "Hops of the lookups this node started",
      buckets: [0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 48],
      registers,
    });
    const calls = this.calls;
    // Fed from the plain counts when scraped (collect), so no field holds them.
    new Counter({
      name: "ringdht_peer_calls_total",
      help: "Peer RPCs this node made, by type and outcome",
      labelNames: ["type", "outcome"],
      registers,
      collect() {
        report(calls, this);
      },
    });
    const served = this.served;
    new Counter({
      name: "ringdht_peer_requests_total",
      help: "Peer RPCs this node answered, by type and outcome (ok, error)",
      labelNames: ["type", "outcome"],
      registers,
      collect() {
        report(served, this);
      },
    });
    this.repairRecords = new Counter({
      name: "ringdht_repair_records_total",
      help: "Records moved by anti-entropy, handoff, split (join) and handover (leave)",
      labelNames: ["kind", "direction"],
      registers,
    });
    this.repairBytes = new Counter({
      name: "ringdht_repair_bytes_total",
      help: "Value bytes moved by anti-entropy, handoff, split and handover",
      labelNames: ["kind", "direction"],
      registers,
    });
    this.bansTotal = new Counter({
      name: "ringdht_bans_total",
      help: "IP groups banned for misbehaviour",
      registers,
    });
    const level = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    level("ringdht_records", "Records held", () => sources.records().count);
    level(
      "ringdht_record_bytes",
      "Bytes of records held (as the quota counts them)",
      () => sources.records().bytes,
    );
    level("ringdht_api_connections", "Open API connections", () => sources.apiConnections());
    new Gauge({
      name: "ringdht_peer_connections",
      help: "Open peer connections, by direction",
      labelNames: ["direction"],
      registers,
      collect() {
        const c = sources.peerConnections();
        this.set({ direction: "inbound" }, c.inbound);
        this.set({ direction: "outbound" }, c.outbound);
      },
    });
    level("ringdht_banned_groups", "IP groups banned now", () => sources.bannedGroups());
    level("ringdht_ready", "1 when the node is ready (as /readyz), else 0", () =>
      sources.ready() ? 1 : 0,
    );
    level("ringdht_ring_estimated_size", "Ring size estimated from the successor list", () =>
      sources.estimatedRingSize(),
    );
    level("ringdht_successors", "Entries in the successor list", () => sources.successors());
  }

  apiRequest(type: "put" | "get" | "shutdown", outcome: ApiOutcome, seconds: number): void {
    this.apiRequests.inc({ type, outcome });
    this.apiSeconds.observe({ type }, seconds);
  }

  lookupHops(hops: number): void {
    this.hops.observe(hops);
  }

  peerCall(name: RpcName, outcome: "ok" | PeerCallFailure): void {
    cell(this.calls, name, outcome).n++;
  }

  peerServed(name: RpcName, ok: boolean): void {
    cell(this.served, name, ok ? "ok" : "error").n++;
  }

  repair(kind: RepairKind, direction: "sent" | "received", records: number, bytes: number): void {
    if (records === 0) return;
    this.repairRecords.inc({ kind, direction }, records);
    this.repairBytes.inc({ kind, direction }, bytes);
  }

  banned(): void {
    this.bansTotal.inc();
  }
}

interface Cell {
  n: number;
  /** What prom-client has been told so far. */
  reported: number;
}
type Cells = Map<string, Map<string, Cell>>;

/** The count for (type, outcome), made once. */
function cell(cells: Cells, type: string, outcome: string): Cell {
  let byOutcome = cells.get(type);
  if (byOutcome === undefined) {
    byOutcome = new Map();
    cells.set(type, byOutcome);
  }
  let c = byOutcome.get(outcome);
  if (c === undefined) {
    c = { n: 0, reported: 0 };
    byOutcome.set(outcome, c);
  }
  return c;
}

/** Tells `counter` what the cells counted since the last scrape. */
function report(cells: Cells, counter: Counter<"type" | "outcome">): void {
  for (const [type, byOutcome] of cells)
    for (const [outcome, c] of byOutcome) {
      if (c.n > c.reported) counter.inc({ type, outcome }, c.n - c.reported);
      c.reported = c.n;
    }
}

/** One exposition of several nodes' registries (a testnet's): series told apart by `node`. */
export async function aggregateMetrics(
  registries: readonly Registry[],
): Promise<{ contentType: string; body: string }> {
  const all = await Promise.all(registries.map((r) => r.getMetricsAsJSON()));
  const merged = AggregatorRegistry.aggregate(all);
  return { contentType: merged.contentType, body: await merged.metrics() };
}
