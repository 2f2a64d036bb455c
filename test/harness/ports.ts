// Fixed loopback ports for nodes that must keep (restart) or choose (ring
// position) their ports: taken below the kernel's ephemeral range, so no
// outgoing connection or port-0 listener can grab one between our check and
// the node's bind.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** The first port of the ephemeral range (Linux default 32768). */
function ephemeralStart(): number {
  try {
    const [lo] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const n = Number(lo);
    return Number.isInteger(n) && n > 2_000 ? n : 32_768;
  } catch {
    return 32_768;
  }
}

const taken = new Set<number>();

/** Whether 127.0.0.1:port can be bound right now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * A free loopback port below the ephemeral range, not handed out before by
 * this process. Random, so concurrent test files rarely try the same one.
 */
export async function quietPort(): Promise<number> {
  const hi = ephemeralStart() - 1;
  const lo = Math.max(1_024, hi - 12_000);
  for (let tries = 0; tries < 500; tries++) {
    const port = lo + Math.floor(Math.random() * (hi - lo));
    if (taken.has(port)) continue;
    taken.add(port);
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port in ${lo}-${hi}`);
}

/**
 * `count` quiet ports whose node IDs (SHA-256 of "127.0.0.1:PORT") satisfy
 * `wanted`, e.g. all in one arc of the ring.
 */
export async function portsWithIds(
  count: number,
  wanted: (id: string) => boolean,
  maxTries = 2_000,
): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; ports.length < count; i++) {
    if (i >= maxTries)
      throw new Error(`only ${ports.length} of ${count} ports in ${maxTries} tries`);
    const port = await quietPort();
    const id = createHash("sha256").update(`127.0.0.1:${port}`).digest("hex");
    if (wanted(id)) ports.push(port);
  }
  return ports;
}
