// Acknowledged writes as clients see them: a PUT counts once a GET on the same
// API connection returns its value (what `ringdht put` does). Also a few
// helpers for write/read workloads shared by the durability tests.

import type { ApiClient } from "../../src/client/api-client.js";
import { type ApiEndpoint, readEverywhere, type Stored } from "./cluster.js";

/**
 * PUT then GET on one connection. True when the GET returned exactly `value`
 * (the write is acknowledged); false on any other answer, a DHT FAILURE or a
 * connection error (not acknowledged, so nothing to check later).
 */
export async function ackedPut(
  client: ApiClient,
  key: Buffer,
  value: Buffer,
  replication = 0,
): Promise<boolean> {
  try {
    client.put(key, value, 0, replication);
    const seen = await client.get(key);
    return seen?.equals(value) ?? false;
  } catch {
    return false;
  }
}

/** GET that returns a connection error as its result rather than throwing it. */
export async function tryGet(client: ApiClient, key: Buffer): Promise<Buffer | undefined | Error> {
  try {
    return await client.get(key);
  } catch (err) {
    return err as Error;
  }
}

/** A value carrying a counter, "LABEL#COUNTER" (plus padding), ordered by the counter. */
export const counterValue = (label: string, counter: number, pad = 0): Buffer =>
  Buffer.from(`${label}#${counter}${"-".repeat(pad)}`);

/** The counter of a counterValue, or undefined when `value` is not one for `label`. */
export function counterOf(label: string, value: Buffer): number | undefined {
  const m = /^(.*)#(\d+)-*$/.exec(value.toString("utf8"));
  return m === null || m[1] !== label ? undefined : Number(m[2]);
}

/** Fisher-Yates with the given generator. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** A key whose values are counterValues: any read must show at least `min`. */
export interface CounterKey {
  key: Buffer;
  label: string;
  /** The counter of the newest acknowledged write. */
  min: number;
}

/**
 * GETs every key through every endpoint (pipelined per connection, all at
 * once) and returns what was wrong: "n3: k7 -> FAILURE", "n3: k7 -> #2 < #3"
 * (an older value than the newest acknowledged one). A connection error
 * counts as no answer, not as a wrong one, and its connection is redialled.
 */
export async function staleReads(
  endpoints: readonly ApiEndpoint[],
  keys: readonly CounterKey[],
): Promise<string[]> {
  const perNode = await Promise.all(
    endpoints.map(async (ep) => {
      let client: ApiClient;
      try {
        client = await ep.api();
      } catch {
        return [];
      }
      const expected = keys.map((k) => k.min); // fixed before the reads are sent
      const results = await Promise.all(keys.map((k) => tryGet(client, k.key)));
      const wrong: string[] = [];
      results.forEach((r, i) => {
        const k = keys[i]!;
        if (r instanceof Error) return;
        const got = r === undefined ? undefined : counterOf(k.label, r);
        if (got === undefined)
          wrong.push(`${ep.name}: ${k.label} -> ${r === undefined ? "FAILURE" : "foreign value"}`);
        else if (got < expected[i]!)
          wrong.push(`${ep.name}: ${k.label} -> #${got} < #${expected[i]}`);
      });
      if (results.some((r) => r instanceof Error)) await ep.dropApi();
      return wrong;
    }),
  );
  return perNode.flat();
}

/**
 * readEverywhere in slices of `slice` keys (each slice through every node at
 * once), so a large key set does not flood the ring with lookups and turn
 * overload into timeouts. Returns every miss.
 */
export async function readEverywhereInSlices(
  endpoints: readonly ApiEndpoint[],
  stored: readonly Stored[],
  slice = 50,
): Promise<string[]> {
  const misses: string[] = [];
  for (let at = 0; at < stored.length; at += slice)
    misses.push(...(await readEverywhere(endpoints, stored.slice(at, at + slice))));
  return misses;
}

/**
 * "12 wrong reads of 4 keys (3 at an older value, 1 not found)" for miss
 * lines of the form "NODE: LABEL -> ANSWER" (readEverywhere, staleReads).
 */
export function summarizeMisses(misses: readonly string[]): string {
  const keys = new Map<string, string>();
  for (const m of misses) {
    const label = m.slice(m.indexOf(": ") + 2, m.indexOf(" -> "));
    const older = m.includes(" < ") || m.includes("wrong value");
    if (older || !keys.has(label)) keys.set(label, older ? "older" : "missing");
  }
  const older = [...keys.values()].filter((v) => v === "older").length;
  return `${misses.length} wrong reads of ${keys.size} keys (${older} at an older value, ${keys.size - older} not found)`;
}
