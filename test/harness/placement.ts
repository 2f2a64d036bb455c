// Where a key lives, computed independently of src/: its position is SHA-256
// of the 32 key bytes, its owner the first node (by ring ID, SHA-256 of the
// P2P address text) at or after that position, its replicas the owner's successors.

import { createHash } from "node:crypto";

/** The ring position of a 32-byte API key, 64 hex digits. */
export const keyPosition = (key: Buffer): string => createHash("sha256").update(key).digest("hex");

/**
 * The `copies` nodes that must hold `key` on a ring given in ascending ID
 * order: the owner (first ID >= the key's position, wrapping) and its
 * successors.
 */
export function holdersOf<T extends { readonly id: string }>(
  key: Buffer,
  ringOrder: readonly T[],
  copies = 1,
): T[] {
  if (ringOrder.length === 0) throw new Error("empty ring");
  const pos = keyPosition(key);
  const at = ringOrder.findIndex((n) => n.id >= pos);
  const first = Math.max(at, 0);
  const count = Math.min(copies, ringOrder.length);
  return Array.from({ length: count }, (_, i) => ringOrder[(first + i) % ringOrder.length]!);
}

/** The owner of `key`: the first node at or after its position. */
export const ownerOf = <T extends { readonly id: string }>(
  key: Buffer,
  ringOrder: readonly T[],
): T => holdersOf(key, ringOrder, 1)[0]!;

/** Whether `id` lies in the clockwise arc (from, to]; (a, a] is the whole ring. */
export function inArc(from: string, to: string, id: string): boolean {
  if (from < to) return from < id && id <= to;
  return id > from || id <= to;
}
