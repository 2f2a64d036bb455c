// Which peers may enter the routing table. Policy:
// - never one whose IP is banned (chord/misbehaviour.ts);
// - at most `maxIdsPerIp` distinct IDs per IP group (an IPv4 address, an IPv6
//   /64) in the table, so one machine cannot fill a range (the idea of
//   BitTorrent's BEP 42); loopback is exempt unless `limitLoopback`, so
//   testnets on one machine keep working;
// - an address learned second-hand (from another node's list or reply) only
//   once it answered one of our calls, or proved its address calling us.
//   Verified addresses are remembered for VERIFIED_MS; unverified ones are
//   pinged in the background (at most PROBES_IN_FLIGHT at once) and may enter
//   on a later round of stabilization or finger fixing; a successor list is
//   verified whole before it is adopted (verify()), so it has no holes;
// - a peer already in the table stays admissible: it was checked on entry, and
//   a successor list's tail, never called, would otherwise drop out and come
//   back every VERIFIED_MS.

import type { Clock } from "../ports.js";
import { hostOf, ipGroup, isLoopbackIp } from "../ring/ip-group.js";
import type { Peer, RoutingTable } from "../ring/routing-table.js";

const VERIFIED_MS = 10 * 60_000;
const REVOUCH_MS = 10_000;
const MAX_VERIFIED = 16_384;
/** A vouched address moves to the end of the eviction order at most this often. */
const REORDER_MS = 60_000;
const PROBES_IN_FLIGHT = 16;
/** An address whose ping failed is not pinged again by verify() for this long. */
const FAILED_MS = 10_000;
/** Addresses whose host and IP group are remembered (parsing them is most of a filter's cost). */
const MAX_PARSED = 4096;

interface Parsed {
  readonly ip: string | undefined;
  /** The IP group the address counts in, undefined when exempt. */
  readonly group: string | undefined;
}

export interface GateOptions {
  maxIdsPerIp: number;
  limitLoopback: boolean;
  /** Successor list length r: verify() looks at no more of a list than is kept. */
  successorListLength: number;
}

export interface PeerGateDeps {
  clock: Clock;
  table: RoutingTable;
  banned: (ip: string) => boolean;
  /** Pings a peer (a success vouches for it through the node's call wrapper). */
  ping: (p: Peer) => Promise<unknown>;
}

export class PeerGate {
  private readonly verified = new Map<string, number>();
  private readonly probing = new Set<string>();
  private readonly failed = new Map<string, number>();
  private readonly parsed = new Map<string, Parsed>();
  /** Peers refused for their IP's cap or ban, and second-hand ones held until verified. */
  readonly stats = { capped: 0, banned: 0, unverified: 0 };

  constructor(
    private readonly deps: PeerGateDeps,
    private readonly opts: GateOptions,
  ) {}

  /** `addr` answered us, or proved its address when calling us. */
  vouch(addr: string): void {
    const until = this.deps.clock.now() + VERIFIED_MS;
    const was = this.verified.get(addr);
    // Renewed at most once per REVOUCH_MS (every call vouches, and most go to the same
    // few), and moved to the end of the eviction order at most once per REORDER_MS:
    // deleting and re-adding on every call leaves a hole per call and keeps the map's
    // table at twice its entries.
    if (was !== undefined && until - was < REVOUCH_MS) return;
    if (was !== undefined && until - was < REORDER_MS) {
      this.verified.set(addr, until);
      return;
    }
    this.verified.delete(addr);
    this.verified.set(addr, until);
    if (this.verified.size > MAX_VERIFIED)
      this.verified.delete(this.verified.keys().next().value as string);
  }

  isVerified(addr: string): boolean {
    const until = this.verified.get(addr);
    return until !== undefined && until >= this.deps.clock.now();
  }

  /** Whether a peer's IP is banned. */
  isBanned(p: Peer): boolean {
    const ip = this.parse(p.addr).ip;
    return ip !== undefined && this.deps.banned(ip);
  }

  /**
   * Pings the unverified peers among the first `limit` (r) of `list` (not banned, not past
   * their IP's cap, not failed within FAILED_MS) in parallel and waits for the
   * answers, so that filter() then keeps every live one.
   */
  async verify(list: readonly Peer[], limit = this.opts.successorListLength): Promise<void> {
    const kept = list.slice(0, limit);
    const counts = this.countsExcept(kept);
    const now = this.deps.clock.now();
    const pending = kept.filter((p) => {
      if (p.id === this.deps.table.self.id || this.deps.table.has(p.id) || this.isVerified(p.addr))
        return false;
      if (this.isBanned(p) || (this.failed.get(p.addr) ?? 0) > now) return false;
      const g = this.group(p);
      if (g === undefined) return true;
      const n = counts.get(g) ?? 0;
      counts.set(g, n + 1);
      return n < this.opts.maxIdsPerIp;
    });
    await Promise.all(
      pending.map((p) =>
        this.deps.ping(p).catch(() => {
          this.failed.set(p.addr, this.deps.clock.now() + FAILED_MS);
          if (this.failed.size > MAX_VERIFIED) this.failed.clear();
        }),
      ),
    );
  }

  /** The peers of `list` that may enter the table, in order; unverified ones are probed. */
  filter(list: readonly Peer[]): Peer[] {
    const counts = this.countsExcept(list);
    const out: Peer[] = [];
    for (const p of list) {
      if (!this.admissible(p, counts)) continue;
      out.push(p);
      const g = this.group(p);
      if (g !== undefined) counts.set(g, (counts.get(g) ?? 0) + 1);
    }
    return out;
  }

  /** Drops the table's peers in the IP group of `ip` (just banned); returns them. */
  evict(ip: string): Peer[] {
    const group = ipGroup(ip);
    const gone = this.deps.table.knownPeers().filter((p) => {
      const host = this.parse(p.addr).ip;
      return host !== undefined && ipGroup(host) === group;
    });
    for (const p of gone) this.deps.table.removePeer(p.id);
    return gone;
  }

  /** Whether one peer may enter the table (see filter). */
  accepts(p: Peer): boolean {
    return this.filter([p]).length === 1;
  }

  private admissible(p: Peer, counts: Map<string, number>): boolean {
    if (p.id === this.deps.table.self.id) return true;
    if (this.isBanned(p)) {
      this.stats.banned++;
      return false;
    }
    const g = this.group(p);
    if (g !== undefined && (counts.get(g) ?? 0) >= this.opts.maxIdsPerIp) {
      this.stats.capped++;
      return false;
    }
    if (this.deps.table.has(p.id) || this.isVerified(p.addr)) return true;
    this.stats.unverified++;
    this.probe(p);
    return false;
  }

  /** IDs per capped IP group in the table, not counting the peers of `list`. */
  private countsExcept(list: readonly Peer[]): Map<string, number> {
    const counts = new Map<string, number>();
    let seen: Set<string> | undefined;
    this.deps.table.forEachEntry((p) => {
      const g = this.group(p);
      if (g === undefined) return; // exempt (loopback): a testnet's whole table
      seen ??= new Set(list.map((q) => q.id));
      if (seen.has(p.id)) return;
      seen.add(p.id);
      counts.set(g, (counts.get(g) ?? 0) + 1);
    });
    return counts;
  }

  /** The IP group a peer counts against, or undefined when exempt. */
  private group(p: Peer): string | undefined {
    return this.parse(p.addr).group;
  }

  /** The host of an address and its group: pure functions of the text, remembered. */
  private parse(addr: string): Parsed {
    let parsed = this.parsed.get(addr);
    if (parsed === undefined) {
      const ip = hostOf(addr);
      const exempt = ip === undefined || (!this.opts.limitLoopback && isLoopbackIp(ip));
      parsed = { ip, group: exempt ? undefined : ipGroup(ip) };
      if (this.parsed.size >= MAX_PARSED) this.parsed.clear();
      this.parsed.set(addr, parsed);
    }
    return parsed;
  }

  private probe(p: Peer): void {
    if (this.probing.has(p.addr) || this.probing.size >= PROBES_IN_FLIGHT) return;
    this.probing.add(p.addr);
    void this.deps
      .ping(p)
      .catch(() => undefined)
      .finally(() => this.probing.delete(p.addr));
  }
}
