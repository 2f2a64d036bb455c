// The record of one simulated run that the checker judges: every client
// operation with its simulated invoke/complete times and outcome, the fault
// log, partition windows, the reads after quiescence and the final replicas.
// Times are ms since the run began (the same on every replay).

/** A PUT: `value` is unique to this write. ok = acknowledged; !ok = indeterminate. */
export interface PutOp {
  readonly kind: "put";
  readonly id: number;
  readonly client: number;
  /** The entry node's address. */
  readonly node: string;
  readonly key: string;
  readonly value: string;
  readonly invoke: number;
  readonly complete: number;
  readonly ok: boolean;
}

/**
 * A GET: found (value), absent (get resolved undefined: "not found") or
 * unavailable (get rejected, or the client gave up).
 */
export interface GetOp {
  readonly kind: "get";
  readonly id: number;
  readonly client: number;
  readonly node: string;
  readonly key: string;
  readonly invoke: number;
  readonly complete: number;
  readonly outcome: "found" | "absent" | "unavailable";
  readonly value: string | null;
}

export type Op = PutOp | GetOp;

/** A partition from its start to its heal (ms, simulated). */
export interface Window {
  readonly start: number;
  readonly end: number;
}

/** One live node's copy of a key after quiescence. */
export interface Copy {
  readonly node: string;
  readonly version: number;
  readonly value: string;
}

export interface KeyReplicas {
  readonly key: string;
  /** The live nodes that must hold the key: its owner and the next replication-1 nodes. */
  readonly expected: readonly string[];
  readonly copies: readonly Copy[];
}

export interface History {
  readonly seed: number;
  /** Operations during the run, in completion order. */
  readonly ops: readonly Op[];
  readonly partitions: readonly Window[];
  /** Reads of every key through several live nodes once the faults stopped and the ring quiesced. */
  readonly finalReads: readonly GetOp[];
  readonly replicas: readonly KeyReplicas[];
  /** What the nemesis did, one line per event ("@<ms> <event>"). */
  readonly faults: readonly string[];
}
