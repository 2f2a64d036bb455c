// Real partitions for end-to-end tests (Linux, root, iproute2): one network
// namespace per node, each cabled (veth) to a bridge in a hub namespace; a
// partition moves some cables to a second, unconnected bridge. Only namespaces
// this module creates are touched, and they are deleted at cleanup or exit.

import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { onCleanup } from "./cleanup.js";

const execFileAsync = promisify(execFile);
const ip = async (...args: string[]): Promise<void> => {
  await execFileAsync("ip", args);
};

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return "not root";
  try {
    execFileSync("ip", ["netns", "list"], { stdio: "ignore" });
    return undefined;
  } catch (err) {
    return `ip netns does not work: ${(err as Error).message}`;
  }
}

/** The bridges in the hub: everyone starts on MAIN; a partitioned side is moved to CUT. */
const MAIN = "br0";
const CUT = "br1";
const SUBNET = "10.213.0";

export class NetnsLab {
  private destroyed = false;

  private constructor(
    /** Prefix of every namespace name, unique per test process. */
    readonly tag: string,
    readonly size: number,
  ) {}

  /** Creates the hub and `size` node namespaces, all on one bridge. */
  static async create(size: number): Promise<NetnsLab> {
    const lab = new NetnsLab(`rdt${process.pid}`, size);
    const unregister = onCleanup(() => lab.destroy());
    process.once("exit", () => lab.destroy());
    try {
      await ip("netns", "add", lab.hub);
      for (const br of [MAIN, CUT]) {
        await ip("-n", lab.hub, "link", "add", br, "type", "bridge");
        await ip("-n", lab.hub, "link", "set", br, "up");
      }
      await Promise.all(Array.from({ length: size }, (_, i) => lab.addNode(i)));
    } catch (err) {
      lab.destroy();
      unregister();
      throw err;
    }
    return lab;
  }

  get hub(): string {
    return `${this.tag}h`;
  }

  /** The namespace of node `i`. */
  ns(i: number): string {
    return `${this.tag}n${i}`;
  }

  /** Node `i`'s address inside the lab. */
  address(i: number): string {
    return `${SUBNET}.${i + 1}`;
  }

  /** The command prefix that runs a program inside node `i`'s namespace. */
  wrap(i: number): string[] {
    return ["ip", "netns", "exec", this.ns(i)];
  }

  /** Cuts `side` off from the others (both directions, at once); others stay connected. */
  async partition(side: readonly number[]): Promise<void> {
    await Promise.all(side.map((i) => ip("-n", this.hub, "link", "set", `h${i}`, "master", CUT)));
  }

  /** Puts every node back on one bridge. */
  async heal(): Promise<void> {
    await Promise.all(
      Array.from({ length: this.size }, (_, i) =>
        ip("-n", this.hub, "link", "set", `h${i}`, "master", MAIN),
      ),
    );
  }

  /** Deletes every namespace of the lab (their interfaces go with them). Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const ns of [this.hub, ...Array.from({ length: this.size }, (_, i) => this.ns(i))]) {
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // never created, or already gone
      }
    }
  }

  private async addNode(i: number): Promise<void> {
    const ns = this.ns(i);
    await ip("netns", "add", ns);
    await ip(
      "-n",
      this.hub,
      "link",
      "add",
      `h${i}`,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      ns,
    );
    await ip("-n", this.hub, "link", "set", `h${i}`, "master", MAIN, "up");
    await ip("-n", ns, "addr", "add", `${this.address(i)}/24`, "dev", "eth0");
    await ip("-n", ns, "link", "set", "eth0", "up");
    await ip("-n", ns, "link", "set", "lo", "up");
  }
}
