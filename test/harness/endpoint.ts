// A node's API as tests use it: a name for messages and one cached
// connection (read-your-writes holds on it), redialled after a failure.

import { ApiClient } from "../../src/client/api-client.js";

/** What readEverywhere and the read checkers need of a node. */
export interface ApiEndpoint {
  readonly name: string;
  /** The cached API connection, opened on first use. */
  api(): Promise<ApiClient>;
  /** Closes the cached connection (the next api() dials again). */
  dropApi(): Promise<void>;
}

/** An API at host:port with one cached connection. */
export class PortEndpoint implements ApiEndpoint {
  private client: Promise<ApiClient> | undefined;

  constructor(
    readonly name: string,
    readonly apiHost: string,
    readonly apiPort: number,
  ) {}

  api(): Promise<ApiClient> {
    if (this.client === undefined) {
      const client = ApiClient.connect(this.apiHost, this.apiPort);
      this.client = client;
      // A failed connect is not cached: the next call dials again.
      client.catch(() => {
        if (this.client === client) this.client = undefined;
      });
    }
    return this.client;
  }

  async dropApi(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    (await client?.catch(() => undefined))?.close();
  }
}
