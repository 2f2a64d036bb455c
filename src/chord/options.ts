// The tunables of a Chord node, with their defaults in one place (ms units in
// the names). config/ maps the INI keys onto these.

import { DEFAULT_POW_BITS } from "../ring/pow.js";
import type { TtlPolicy } from "./ttl.js";

export interface ChordOptions extends TtlPolicy {
  /** Successor list length r; also the largest replication honoured. */
  successorListLength: number;
  /** Copies per value when a PUT says 0. */
  replication: number;
  storeQuotaBytes: number;
  stabilizeMs: number;
  fixFingersMs: number;
  checkPredecessorMs: number;
  /** Anti-entropy: one replica of the owned range compared per period. */
  antiEntropyMs: number;
  /** How often stranded records are looked for (also soon after each ring change). */
  strandedScanMs: number;
  /** A GET waits this long past a majority of answers for the rest of the replica set. */
  readGraceMs: number;
  /** Timers this late mean the process was paused: catch up before serving as owner. */
  pauseThresholdMs: number;
  rpcTimeoutMs: number;
  lookupTimeoutMs: number;
  /** Deadline of one bulk batch (join split, leave handover, repair). */
  transferTimeoutMs: number;
  maxHops: number;
  bootstrapRetryInitialMs: number;
  bootstrapRetryMaxMs: number;
  /** Proof-of-work difficulty on admission, in leading zero bits (0: none). */
  powBits: number;
  /** Distinct node IDs per IP (IPv4 address, IPv6 /64) a routing table takes. */
  maxIdsPerIp: number;
  /** Apply maxIdsPerIp to loopback addresses too (off: testnets on one machine). */
  limitLoopback: boolean;
}

export const CHORD_DEFAULTS: Omit<
  ChordOptions,
  keyof TtlPolicy | "replication" | "storeQuotaBytes"
> = {
  successorListLength: 10,
  stabilizeMs: 500,
  fixFingersMs: 250,
  checkPredecessorMs: 1000,
  antiEntropyMs: 1000,
  strandedScanMs: 5_000,
  readGraceMs: 50,
  pauseThresholdMs: 2000,
  rpcTimeoutMs: 2000,
  lookupTimeoutMs: 4000,
  transferTimeoutMs: 20_000,
  maxHops: 48,
  bootstrapRetryInitialMs: 500,
  bootstrapRetryMaxMs: 30_000,
  powBits: DEFAULT_POW_BITS,
  maxIdsPerIp: 4,
  limitLoopback: false,
};
