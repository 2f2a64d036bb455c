// hyperdht (v6, the DHT of Hyperswarm) as a PeerSystem: N nodes in this
// process on 127.0.0.1, started as the package's own testnet helper starts
// them (persistent, not firewalled, each bootstrapping from the first). Values
// are immutable records (immutablePut / immutableGet): the key of a value is
// its BLAKE2b hash, so a PUT stores key bytes + value to keep every PUT distinct.

import { HOST, type PeerSystem, peerVersion, requirePeer } from "./system.js";

interface HyperNode {
  fullyBootstrapped(): Promise<void>;
  address(): { host: string; port: number };
  toArray(): unknown[];
  immutablePut(value: Buffer): Promise<{ hash: Buffer }>;
  immutableGet(hash: Buffer): Promise<{ value: Buffer } | null>;
  destroy(opts?: { force?: boolean }): Promise<void>;
}

type HyperCtor = new (opts: {
  bootstrap: string[];
  host: string;
  port?: number;
  ephemeral: boolean;
  firewalled: boolean;
}) => HyperNode;

export function hyperdhtSystem(): PeerSystem {
  const DHT = requirePeer("hyperdht") as HyperCtor;
  const nodes: (HyperNode | undefined)[] = [];
  const bootstrapped = new Set<number>();
  let bootstrap: string[] = [];
  const node = (i: number): HyperNode => {
    const n = nodes[i];
    if (n === undefined) throw new Error(`node ${i} is not running`);
    return n;
  };
  return {
    name: "hyperdht",
    version: peerVersion("hyperdht"),
    formedNote: "fullyBootstrapped() resolved and routing table non-empty",
    async startNode(i) {
      const n = new DHT({ bootstrap, host: HOST, port: 0, ephemeral: false, firewalled: false });
      nodes[i] = n;
      await n.fullyBootstrapped();
      bootstrapped.add(i);
      if (i === 0) bootstrap = [`${HOST}:${n.address().port}`];
    },
    formed(i) {
      const n = nodes[i];
      return (
        n !== undefined && bootstrapped.has(i) && (nodes.length === 1 || n.toArray().length > 0)
      );
    },
    async put(i, key, value) {
      try {
        const { hash } = await node(i).immutablePut(Buffer.concat([key, value]));
        return hash.toString("hex");
      } catch {
        return null;
      }
    },
    async get(i, handle) {
      try {
        return (await node(i).immutableGet(Buffer.from(handle, "hex"))) !== null;
      } catch {
        return false;
      }
    },
    async stopNode(i) {
      const n = nodes[i];
      nodes[i] = undefined;
      bootstrapped.delete(i);
      await n?.destroy({ force: true });
    },
    async closeAll() {
      await Promise.all(nodes.map((n) => n?.destroy({ force: true }).catch(() => undefined)));
    },
  };
}
