// How many file descriptors `ringdht testnet` needs, and how many this process
// may open. An in-memory testnet node holds two: its API listener and its P2P
// listener (peers of the process reach it without sockets). Node raises its
// soft limit to the hard one at start, so what /proc reports is what we get.
// A testnet that would not fit is refused before any node starts, with the
// numbers, instead of failing with EMFILE halfway through its joins. Over TCP
// (--over-tcp) each peer connection takes one more, a number not known
// beforehand: no check then.

import { readFileSync } from "node:fs";
import { errnoInChain } from "./failures.js";

/** Descriptors each in-memory testnet node holds: its API and P2P listeners. */
export const TESTNET_FDS_PER_NODE = 2;
/**
 * Kept free besides the nodes': the process's own (stdio, event loop, worker
 * threads, the admin endpoint; about 25 here) and API clients connected at once.
 */
export const TESTNET_FD_RESERVE = 64;

/**
 * This process's limit on open files (the soft RLIMIT_NOFILE), from the text of
 * /proc/self/limits (read when not given); undefined when unlimited or not told.
 */
export function openFileLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/limits", "utf8");
    } catch {
      return undefined; // not Linux: no check, EMFILE still gets its own message
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (m === null || m[1] === "unlimited") return undefined;
  return Number(m[1]);
}

/** Descriptors a testnet of `nodes` in-memory nodes needs, reserve included. */
export function testnetDescriptors(nodes: number): number {
  return nodes * TESTNET_FDS_PER_NODE + TESTNET_FD_RESERVE;
}

/** The most in-memory testnet nodes that fit within `limit` descriptors. */
export function testnetNodesWithin(limit: number): number {
  return Math.max(0, Math.floor((limit - TESTNET_FD_RESERVE) / TESTNET_FDS_PER_NODE));
}

/** Whether `err` (or an error it wraps) is EMFILE: the process ran out of descriptors. */
export function outOfDescriptors(err: unknown): boolean {
  return errnoInChain(err, "EMFILE") !== undefined;
}
