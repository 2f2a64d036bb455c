// Every configuration key the node understands, with its default, in one typed
// place. Durations are in seconds and sizes in bytes, as their names say.
// The README's configuration table is written from this file.

export const DEFAULTS = {
  api_address: "127.0.0.1:7401",
  p2p_address: "127.0.0.1:6501",
  /** Empty: start a new network. */
  bootstrapper: "",
  default_store_duration: 3600,
  max_store_duration: 86_400,
  replication: 8,
  successor_list_length: 10,
  stabilize_interval_ms: 500,
  store_quota_bytes: 128 * 1024 * 1024,
  max_api_connections: 1024,
  api_max_inflight: 1024,
  allow_remote_shutdown: false,
  /** Proof-of-work on admission, in leading zero bits (about 100 ms at 16 on a 2020s core). */
  pow_difficulty: 16,
  /** Node IDs per IPv4 address (or IPv6 /64) a routing table takes. */
  max_ids_per_ip: 4,
  /** Peer-port connections per IPv4 address (or IPv6 /64). */
  max_peer_connections_per_ip: 32,
  /** Apply both per-IP caps to loopback too (off: many nodes on one machine). */
  limit_loopback: false,
  /** The admin HTTP endpoint (status, metrics, health, ring page). Empty: off. */
  http_address: "127.0.0.1:7480",
  /** A folder for records kept across restarts (LMDB). Empty: in memory only. */
  data_dir: "",
  log_level: "info",
  log_format: "auto",
} as const;

/** Aliases other teams' files use, mapped to our key. */
export const ALIASES: Readonly<Record<string, keyof typeof DEFAULTS>> = {
  listen_address: "p2p_address",
  bootstrap_node: "bootstrapper",
  bootstrap_nodes: "bootstrapper",
};

/** Keys read from the global section (before any section, or [global]). */
export const GLOBAL_KEYS = ["hostkey"] as const;

export const MAX_STORE_SECONDS_LIMIT = 10 * 365 * 24 * 3600;
export const MAX_REPLICATION = 16;
