// Composition root: config -> store/engine -> API server. start() brings a node
// up (its API opens only once it is part of a network); stop() takes it down
// gracefully and is idempotent. `closed` settles when the node has stopped.

import { LocalDht } from "./chord/local-dht.js";
import type { Config } from "./config/config.js";
import type { Logger } from "./log.js";
import { type Address, formatAddress } from "./net/address.js";
import { ApiServer } from "./net/api-server.js";
import { type Clock, type Dht, type PutRequest, systemClock } from "./ports.js";

export interface NodeDeps {
  log: Logger;
  clock?: Clock;
}

export class RingDhtNode implements Dht {
  private readonly engine: LocalDht;
  private readonly api: ApiServer;
  private stopping: Promise<void> | undefined;
  private resolveClosed!: (reason: string) => void;
  /** Settles with the reason once the node has stopped. */
  readonly closed = new Promise<string>((resolve) => {
    this.resolveClosed = resolve;
  });
  private bound: Address | undefined;

  private constructor(
    config: Config,
    private readonly log: Logger,
    clock: Clock,
  ) {
    this.engine = new LocalDht({ clock, log }, config);
    this.api = new ApiServer(
      { dht: this, log },
      {
        address: config.apiAddress,
        maxInflightPerConnection: config.apiMaxInflight,
        maxConnections: config.maxApiConnections,
        allowRemoteShutdown: config.allowRemoteShutdown,
      },
    );
  }

  static async start(config: Config, deps: NodeDeps): Promise<RingDhtNode> {
    const node = new RingDhtNode(config, deps.log, deps.clock ?? systemClock);
    node.log.info("started a new network of one");
    node.bound = await node.api.listen();
    node.log.info({ api: formatAddress(node.bound) }, "API listening");
    return node;
  }

  /** The API address actually bound (the configured port, or the one picked for 0). */
  get apiAddress(): Address {
    if (this.bound === undefined) throw new Error("node not started");
    return this.bound;
  }

  put(req: PutRequest): Promise<void> {
    return this.engine.put(req);
  }

  get(key: Buffer): Promise<Buffer | undefined> {
    return this.engine.get(key);
  }

  shutdown(reason: string): void {
    void this.stop(reason);
  }

  /** Leaves gracefully: closes the API, stops every job. Idempotent. */
  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ reason }, "leaving");
      await this.api.close();
      this.engine.stop();
      this.log.info("stopped");
      this.resolveClosed(reason);
    })();
    return this.stopping;
  }
}
