// What the shared API suite runs against: an in-process node or a spawned one.

export interface ApiTarget {
  host: string;
  port: number;
  /** Stops the node and waits until it has stopped. */
  stop(): Promise<void>;
}
