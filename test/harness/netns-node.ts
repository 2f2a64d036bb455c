// A `ringdht node` inside a NetnsLab namespace, with its API reachable from
// the test process: a relay process in the namespace forwards a Unix socket
// (namespaces do not separate the file system) to the node's loopback API, and
// a TCP listener here forwards to that socket. All stopped at cleanupAll().

import { spawn } from "node:child_process";
import { once } from "node:events";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { onCleanup } from "./cleanup.js";
import { ringId } from "./cluster.js";
import { PortEndpoint } from "./endpoint.js";
import type { NetnsLab } from "./netns.js";
import { type NodeProcess, startNodeProcess, tempDir } from "./process.js";

/** P2P port of every node (each has its own address). */
const P2P_PORT = 7000;

/** Run with `node -e` inside the namespace: Unix socket RELAY_SOCKET -> 127.0.0.1:RELAY_PORT. */
const RELAY_SCRIPT = `
const net = require("node:net");
const port = Number(process.env.RELAY_PORT);
net.createServer((c) => {
  const u = net.connect(port, "127.0.0.1");
  c.pipe(u); u.pipe(c);
  c.on("error", () => u.destroy()); u.on("error", () => c.destroy());
  c.on("close", () => u.destroy()); u.on("close", () => c.destroy());
}).listen(process.env.RELAY_SOCKET, () => process.stdout.write("ready\\n"));
`;

/** Pipes two sockets into each other; either closing closes both. */
function splice(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const) {
    x.on("error", () => y.destroy());
    x.on("close", () => y.destroy());
  }
}

/** Starts the relay for an API at `apiPort` in namespace `i`; resolves with a local TCP port. */
async function relayApi(lab: NetnsLab, i: number, apiPort: number): Promise<number> {
  const socketPath = join(tempDir(), "api.sock");
  const relay = spawn(
    lab.wrap(i)[0]!,
    [...lab.wrap(i).slice(1), process.execPath, "-e", RELAY_SCRIPT],
    {
      env: { ...process.env, RELAY_SOCKET: socketPath, RELAY_PORT: String(apiPort) },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  onCleanup(() => {
    relay.kill("SIGKILL");
  });
  for await (const line of createInterface({ input: relay.stdout! })) if (line === "ready") break;
  const sockets = new Set<Socket>();
  const server = createServer((c) => {
    const u = connect(socketPath);
    sockets.add(c);
    c.once("close", () => sockets.delete(c));
    splice(c, u);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  onCleanup(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** A node in namespace `index`: its process, P2P address and ring ID, and its relayed API. */
export class NsNode extends PortEndpoint {
  readonly id: string;

  constructor(
    readonly index: number,
    readonly proc: NodeProcess,
    relayPort: number,
    readonly p2p: string,
  ) {
    super(`n${index}`, "127.0.0.1", relayPort);
    this.id = ringId(p2p);
  }

  override toString(): string {
    return `${this.name} ${this.p2p} (id ${this.id.slice(0, 8)})`;
  }
}

export interface NsNodeOptions {
  bootstrappers?: readonly string[];
  stabilizeMs?: number;
  replication?: number;
}

/** Starts node `i` of the lab (P2P at its lab address) and resolves once it has joined. */
export async function startNsNode(
  lab: NetnsLab,
  i: number,
  o: NsNodeOptions = {},
): Promise<NsNode> {
  const p2p = `${lab.address(i)}:${P2P_PORT}`;
  const lines = ["[dht]", "api_address = 127.0.0.1:0", `p2p_address = ${p2p}`];
  if (o.bootstrappers !== undefined && o.bootstrappers.length > 0)
    lines.push(`bootstrapper = ${o.bootstrappers.join(",")}`);
  if (o.stabilizeMs !== undefined) lines.push(`stabilize_interval_ms = ${o.stabilizeMs}`);
  if (o.replication !== undefined) lines.push(`replication = ${o.replication}`);
  const { node, apiPort } = await startNodeProcess(`${lines.join("\n")}\n`, 15_000, lab.wrap(i));
  return new NsNode(i, node, await relayApi(lab, i, apiPort), p2p);
}
