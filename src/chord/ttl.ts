// TTL policy of the spec: counted from receipt, 0 means the default, clamped by
// the maximum; the deadline is absolute so it never grows when data moves.

export interface TtlPolicy {
  defaultStoreSeconds: number;
  maxStoreSeconds: number;
}

export function effectiveTtlSeconds(ttl: number, policy: TtlPolicy): number {
  const wanted = ttl === 0 ? policy.defaultStoreSeconds : ttl;
  return Math.min(wanted, policy.maxStoreSeconds);
}

/** Absolute deadline (ms since the epoch) of a PUT received at `receivedMs`. */
export function deadlineOf(ttl: number, receivedMs: number, policy: TtlPolicy): number {
  return receivedMs + effectiveTtlSeconds(ttl, policy) * 1000;
}
