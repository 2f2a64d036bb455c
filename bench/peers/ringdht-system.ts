// ringdht as a PeerSystem: the project's own nodes in this process (as
// startTestnet and the ring benchmarks start them), PUT and GET through each
// node's binary TCP API with the project's client, as a user would. A PUT has
// no reply in the API, so a PUT is done when the GET that follows it on the
// same connection answers (read-your-writes), as in bench/api-bench.ts.

import { readFileSync } from "node:fs";
import { ApiClient } from "../../src/client/api-client.js";
import { silentLogger } from "../../src/log.js";
import { LocalExchange } from "../../src/net/local-exchange.js";
import { RingDhtNode } from "../../src/node.js";
import { testnetConfig, tightenHeap } from "../../src/testnet.js";
import { HOST, type PeerSystem } from "./system.js";

const VERSION = (
  JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;

/** BENCH_PEERS_RINGDHT_TCP=1: the nodes talk over loopback TCP instead of in memory. */
const OVER_TCP = process.env.BENCH_PEERS_RINGDHT_TCP === "1";

export function ringdhtSystem(powDifficulty: number): PeerSystem {
  const log = silentLogger();
  // As `ringdht testnet` runs them: nodes of one process reach each other in memory.
  const exchange = OVER_TCP ? undefined : new LocalExchange();
  const nodes: (RingDhtNode | undefined)[] = [];
  const clients = new Map<number, Promise<ApiClient>>();
  const client = (i: number): Promise<ApiClient> => {
    let c = clients.get(i);
    if (c === undefined) {
      const node = nodes[i];
      if (node === undefined) return Promise.reject(new Error(`node ${i} is not running`));
      c = ApiClient.connect(HOST, node.apiAddress.port);
      clients.set(i, c);
    }
    return c;
  };
  return {
    name: "ringdht",
    version: VERSION,
    formedNote: `joined (RingDhtNode.start resolved) and successor is another node; pow_difficulty ${powDifficulty}; peers ${OVER_TCP ? "over loopback TCP" : "in memory (as ringdht testnet)"}`,
    afterFormed: tightenHeap,
    async startNode(i) {
      const config = testnetConfig(
        { nodes: 1, host: HOST, p2pBasePort: 0, apiBasePort: 0, config: { powDifficulty } },
        0,
      );
      const first = nodes[0];
      if (i > 0 && first !== undefined) {
        const at = first.p2pAddress.lastIndexOf(":");
        config.bootstrappers = [
          { host: first.p2pAddress.slice(0, at), port: Number(first.p2pAddress.slice(at + 1)) },
        ];
      }
      // As `ringdht testnet` runs them: no per-node Prometheus registries (it keeps them
      // only with --http; about 11 KiB and a counter update per call each).
      nodes[i] = await RingDhtNode.start(
        config,
        exchange === undefined ? { log, metrics: false } : { log, exchange, metrics: false },
      );
    },
    formed(i) {
      const node = nodes[i];
      if (node === undefined) return false;
      return nodes.length === 1 || node.chord.table.successor().id !== node.chord.self.id;
    },
    async put(i, key, value) {
      try {
        const c = await client(i);
        c.put(key, value, 3600);
        const got = await c.get(key);
        return got?.equals(value) ? key.toString("hex") : null;
      } catch {
        return null;
      }
    },
    async get(i, handle) {
      try {
        const c = await client(i);
        return (await c.get(Buffer.from(handle, "hex"))) !== undefined;
      } catch {
        return false;
      }
    },
    async stopNode(i) {
      const c = clients.get(i);
      clients.delete(i);
      if (c !== undefined) (await c.catch(() => undefined))?.close();
      const node = nodes[i];
      nodes[i] = undefined;
      await node?.crash();
    },
    async closeAll() {
      for (const c of clients.values()) (await c.catch(() => undefined))?.close();
      clients.clear();
      await Promise.all(nodes.map((n) => n?.crash().catch(() => undefined)));
    },
  };
}
