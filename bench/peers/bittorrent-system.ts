// bittorrent-dht (v11, WebTorrent's BEP 5 DHT) as a PeerSystem: N nodes in
// this process on 127.0.0.1, each bootstrapping from the first. Values are
// BEP 44 immutable items (put({ v }) / get(hash)): the key of a value is its
// SHA-1, so a PUT stores key bytes + value to keep every PUT distinct. GETs ask
// the network (cache: false), not the node's own copy.

import { callback, HOST, importPeer, type PeerSystem, peerVersion } from "./system.js";

interface BtNode {
  listen(port: number, host: string, onListening: () => void): void;
  address(): { address: string; port: number };
  once(event: "ready", f: () => void): void;
  on(event: "error" | "warning", f: (err: Error) => void): void;
  ready: boolean;
  nodes: { count(): number };
  put(item: { v: Buffer }, cb: (err: Error | null, hash: Buffer) => void): void;
  get(
    hash: Buffer,
    opts: { cache: boolean },
    cb: (err: Error | null, res: { v: Buffer } | null) => void,
  ): void;
  destroy(cb: () => void): void;
}

type BtCtor = new (opts: { bootstrap: string[] | false; host?: string }) => BtNode;

export async function bittorrentSystem(): Promise<PeerSystem> {
  const mod = (await importPeer("bittorrent-dht", "index.js")) as { default: BtCtor };
  const DHT = mod.default;
  const nodes: (BtNode | undefined)[] = [];
  let bootstrap: string[] = [];
  const node = (i: number): BtNode => {
    const n = nodes[i];
    if (n === undefined) throw new Error(`node ${i} is not running`);
    return n;
  };
  return {
    name: "bittorrent-dht",
    version: peerVersion("bittorrent-dht"),
    formedNote: "'ready' emitted (bootstrap done) and routing table non-empty",
    async startNode(i) {
      const n = new DHT({ bootstrap: i === 0 ? false : bootstrap });
      n.on("error", (err) => process.stderr.write(`bittorrent-dht node ${i}: ${err.message}\n`));
      n.on("warning", () => {});
      nodes[i] = n;
      const ready = n.ready ? Promise.resolve() : new Promise<void>((r) => n.once("ready", r));
      await new Promise<void>((r) => n.listen(0, HOST, r));
      if (i === 0) bootstrap = [`${HOST}:${n.address().port}`];
      await ready;
    },
    formed(i) {
      const n = nodes[i];
      return n?.ready === true && (nodes.length === 1 || n.nodes.count() > 0);
    },
    async put(i, key, value) {
      try {
        const hash = await callback<Buffer>((cb) =>
          node(i).put({ v: Buffer.concat([key, value]) }, cb),
        );
        return hash.toString("hex");
      } catch {
        return null;
      }
    },
    async get(i, handle) {
      try {
        const res = await callback<{ v: Buffer } | null>((cb) =>
          node(i).get(Buffer.from(handle, "hex"), { cache: false }, cb),
        );
        return res !== null;
      } catch {
        return false;
      }
    },
    async stopNode(i) {
      const n = nodes[i];
      nodes[i] = undefined;
      if (n !== undefined) await new Promise<void>((r) => n.destroy(r));
    },
    async closeAll() {
      await Promise.all(
        nodes.map((n) => (n === undefined ? undefined : new Promise<void>((r) => n.destroy(r)))),
      );
    },
  };
}
