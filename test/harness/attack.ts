// Hostile API clients for the adversary tests and the attack bench: many idle
// connections, messages left half-sent, and a guard that turns a wait that
// never ends into a failure that says what was awaited.

import { RawClient } from "./raw-socket.js";
import { keyOf, MAX_VALUE_BYTES, putMsg } from "./wire.js";

/** Opens `count` connections one after another (so the node accepts them in this order). */
export async function openConnections(port: number, count: number): Promise<RawClient[]> {
  const clients: RawClient[] = [];
  for (let i = 0; i < count; i++) clients.push(await RawClient.connect(port));
  return clients;
}

/** Opens `count` connections, `parallel` at a time (order not kept). */
export async function openConnectionsFast(
  port: number,
  count: number,
  parallel = 100,
): Promise<RawClient[]> {
  const clients: RawClient[] = [];
  for (let done = 0; done < count; done += parallel) {
    const batch = Math.min(parallel, count - done);
    clients.push(
      ...(await Promise.all(Array.from({ length: batch }, () => RawClient.connect(port)))),
    );
  }
  return clients;
}

/** A maximal DHT PUT (65,535 bytes) but for its last byte: the node must hold it all. */
export function halfSentMaxPut(label = "half-sent"): Buffer {
  const whole = putMsg(keyOf(label), Buffer.alloc(MAX_VALUE_BYTES, 0x61));
  return whole.subarray(0, whole.length - 1);
}

/** Rejects naming `what` unless `promise` settles within `ms`. */
export async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The client ports of `clients`: how the node's log lines name them (host:port). */
export const portsOf = (clients: readonly RawClient[]): Set<number> =>
  new Set(clients.map((c) => c.localPort));

/** The port at the end of a logged client address. */
export const portOfLogged = (client: unknown): number =>
  Number(/:(\d+)$/.exec(String(client))?.[1] ?? -1);
