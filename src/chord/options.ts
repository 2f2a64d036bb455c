// The tunables of a Chord node, with their defaults in one place (ms units in
// the names). config/ maps the INI keys onto these.

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
  repairMs: number;
  rpcTimeoutMs: number;
  lookupTimeoutMs: number;
  /** Deadline of one bulk batch (join split, leave handover, repair). */
  transferTimeoutMs: number;
  maxHops: number;
  bootstrapRetryInitialMs: number;
  bootstrapRetryMaxMs: number;
}

export const CHORD_DEFAULTS: Omit<
  ChordOptions,
  keyof TtlPolicy | "replication" | "storeQuotaBytes"
> = {
  successorListLength: 5,
  stabilizeMs: 500,
  fixFingersMs: 250,
  checkPredecessorMs: 1000,
  repairMs: 1000,
  rpcTimeoutMs: 2000,
  lookupTimeoutMs: 4000,
  transferTimeoutMs: 20_000,
  maxHops: 48,
  bootstrapRetryInitialMs: 500,
  bootstrapRetryMaxMs: 30_000,
};
