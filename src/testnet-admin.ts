// One admin endpoint for a whole testnet (`ringdht testnet --http`): the ring
// page, /ring and /events with every live node of the process, /status of one
// node (?node= index, P2P address or ID prefix; the first live node without),
// /metrics of all nodes in one exposition (told apart by the `node` label), and
// /readyz ready once every live node is. The nodes themselves serve no admin
// endpoint (testnet.ts turns theirs off).

import { aggregateMetrics } from "./admin/metrics.js";
import { RING_PAGE } from "./admin/page.js";
import type { NodeStatus, RingView } from "./admin/status.js";
import type { Logger } from "./log.js";
import type { Address } from "./net/address.js";
import { AdminServer } from "./net/admin-server.js";
import type { RingDhtNode } from "./node.js";

/** Finds a node by index, P2P address or ID prefix (4+ hex digits). */
function pick(nodes: readonly RingDhtNode[], which: string): RingDhtNode | undefined {
  if (/^\d+$/.test(which) && which.length < 6) return nodes[Number(which)];
  if (/^[0-9a-f]{4,64}$/.test(which)) return nodes.find((n) => n.chord.self.id.startsWith(which));
  return nodes.find((n) => n.p2pAddress === which);
}

/**
 * Serves the testnet's nodes as `all()` lists them (stopped nodes left out), on
 * `address`. Rejects with Node's error when the address cannot be bound.
 */
export async function startTestnetAdmin(
  all: () => readonly RingDhtNode[],
  address: Address,
  log: Logger,
): Promise<AdminServer> {
  const live = () => all().filter((n) => !n.stopped);
  const server = new AdminServer(
    {
      log,
      handlers: {
        page: RING_PAGE,
        status: (which): NodeStatus | undefined => {
          const nodes = all();
          const node = which === null ? live()[0] : pick(nodes, which);
          return node?.status();
        },
        ring: (): RingView => ({ source: "testnet", nodes: live().map((n) => n.status()) }),
        metrics: () =>
          aggregateMetrics(
            live().flatMap((n) => (n.metrics === undefined ? [] : [n.metrics.registry])),
          ),
        ready: () => {
          const nodes = live();
          if (nodes.length === 0) return { ready: false, reason: "no node running" };
          const waiting = nodes.filter((n) => !n.readiness().ready);
          if (waiting.length === 0) return { ready: true };
          const first = waiting[0]!;
          return {
            ready: false,
            reason: `${waiting.length} of ${nodes.length} nodes not ready (${first.p2pAddress}: ${first.readiness().reason})`,
          };
        },
      },
    },
    { address },
  );
  await server.listen();
  return server;
}
