// A client that floods the node with GETs and never reads a reply, to check
// backpressure. It stops when the node stops taking its requests (a write
// waits for 'drain' while `stallProbes` probe round trips on another
// connection complete) or after `maxRequestBytes`.

import { readFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { onCleanup } from "./cleanup.js";
import { getMsg } from "./wire.js";

export interface FloodResult {
  /** The flooding socket, still open: the caller destroys it. */
  socket: Socket;
  /** Request bytes the client handed to its socket. */
  requestBytes: number;
  /** True when the node stopped reading (backpressure reached the client). */
  stalled: boolean;
  /** Probe round trips completed meanwhile. */
  probes: number;
}

export async function floodGetsWithoutReading(opts: {
  host: string;
  port: number;
  key: Buffer;
  maxRequestBytes: number;
  /** One round trip on another connection; should assert its answer. */
  probe: () => Promise<void>;
  stallProbes?: number;
  getsPerWrite?: number;
}): Promise<FloodResult> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: opts.host, port: opts.port, noDelay: true });
    s.once("error", reject);
    s.once("connect", () => {
      s.off("error", reject);
      s.on("error", () => {});
      resolve(s);
    });
  });
  onCleanup(() => {
    socket.destroy();
  });
  socket.pause(); // never read: replies pile up in the kernel, then in the node
  const batch = Buffer.concat(
    Array.from({ length: opts.getsPerWrite ?? 1000 }, () => getMsg(opts.key)),
  );
  const stallProbes = opts.stallProbes ?? 30;
  let requestBytes = 0;
  let probes = 0;
  while (requestBytes < opts.maxRequestBytes) {
    if (socket.destroyed) throw new Error("the node closed the flooding connection");
    const accepted = socket.write(batch);
    requestBytes += batch.length;
    if (accepted) continue;
    let drained = false;
    const onDrain = (): void => {
      drained = true;
    };
    socket.once("drain", onDrain);
    for (let idle = 0; !drained && idle < stallProbes; idle++) {
      await opts.probe();
      probes++;
    }
    if (!drained) {
      socket.off("drain", onDrain);
      return { socket, requestBytes, stalled: true, probes };
    }
  }
  return { socket, requestBytes, stalled: false, probes };
}

/** VmRSS and VmHWM (peak) of a Linux process, in bytes. */
export async function processMemory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    if (m === null) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(m[1]) * 1024;
  };
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}
