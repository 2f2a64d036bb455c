// Where configuration comes from besides the INI file: `ringdht node` flags
// and RINGDHT_<KEY> environment variables. Each source yields raw text per
// key; config.ts merges them (flags, then environment, then the file, then
// the defaults) and validates the result once, so every source gets the same
// checks and errors name the source (`flag --replication`, `environment
// RINGDHT_REPLICATION`).

import { DEFAULTS, GLOBAL_KEYS } from "./defaults.js";

/** A key a flag or a variable can set: every [dht] key, and the global hostkey. */
export type SettableKey = keyof typeof DEFAULTS | (typeof GLOBAL_KEYS)[number];

export interface NodeFlag {
  /** The long flag without its dashes. */
  flag: string;
  key: SettableKey;
  /** The placeholder in --help; "" for an on/off flag (bare means true). */
  value: string;
  help: string;
  short?: string;
  /** May be given several times; the values join with commas. */
  repeatable?: boolean;
}

/** Every flag of `ringdht node`, one per key (docs/config.md lists them). */
export const NODE_FLAGS: readonly NodeFlag[] = [
  { flag: "api", key: "api_address", value: "host:port", help: "where clients connect" },
  { flag: "p2p", key: "p2p_address", value: "host:port", help: "where peers connect" },
  {
    flag: "bootstrap",
    short: "b",
    key: "bootstrapper",
    value: "host:port",
    help: "a node of the network to join (comma list, or repeat the flag)",
    repeatable: true,
  },
  {
    flag: "http",
    key: "http_address",
    value: "host:port",
    help: 'the admin HTTP endpoint ("" turns it off)',
  },
  {
    flag: "data-dir",
    key: "data_dir",
    value: "dir",
    help: 'keep records in this folder ("" for memory only)',
  },
  { flag: "replication", key: "replication", value: "n", help: "fewest copies a value keeps" },
  {
    flag: "successor-list",
    key: "successor_list_length",
    value: "n",
    help: "successors each node tracks",
  },
  {
    flag: "stabilize-ms",
    key: "stabilize_interval_ms",
    value: "ms",
    help: "ring maintenance cadence",
  },
  {
    flag: "pow-difficulty",
    key: "pow_difficulty",
    value: "bits",
    help: "proof of work on admission (0: off)",
  },
  { flag: "store-quota", key: "store_quota_bytes", value: "bytes", help: "bytes the store holds" },
  {
    flag: "default-ttl",
    key: "default_store_duration",
    value: "seconds",
    help: "lifetime of a value PUT with ttl 0",
  },
  { flag: "max-ttl", key: "max_store_duration", value: "seconds", help: "longest lifetime" },
  {
    flag: "max-api-connections",
    key: "max_api_connections",
    value: "n",
    help: "API connections kept at once",
  },
  {
    flag: "api-max-inflight",
    key: "api_max_inflight",
    value: "n",
    help: "GETs in flight per API connection",
  },
  {
    flag: "allow-remote-shutdown",
    key: "allow_remote_shutdown",
    value: "",
    help: "accept DHT SHUTDOWN from other hosts",
  },
  {
    flag: "max-ids-per-ip",
    key: "max_ids_per_ip",
    value: "n",
    help: "node IDs per IP a routing table takes",
  },
  {
    flag: "max-peer-connections-per-ip",
    key: "max_peer_connections_per_ip",
    value: "n",
    help: "peer connections per IP",
  },
  {
    flag: "limit-loopback",
    key: "limit_loopback",
    value: "",
    help: "apply the per-IP limits to loopback too",
  },
  {
    flag: "log-level",
    key: "log_level",
    value: "level",
    help: "trace, debug, info, warn, error, fatal or silent",
  },
  { flag: "log-format", key: "log_format", value: "format", help: "auto, pretty or json" },
  {
    flag: "hostkey",
    key: "hostkey",
    value: "file",
    help: "the peer's host key file (not used yet)",
  },
];

const FLAG_OF = new Map<string, string>(NODE_FLAGS.map((f) => [f.key, f.flag]));

/** How an error names a key set by a flag: `flag --replication`. */
export const flagName = (key: string): string => `flag --${FLAG_OF.get(key) ?? key}`;

/** The environment variable of a key: RINGDHT_API_ADDRESS. */
export const envVar = (key: string): string => `RINGDHT_${key.toUpperCase()}`;

/** How an error names a key set in the environment. */
export const envName = (key: string): string => `environment ${envVar(key)}`;

/** RINGDHT_ variables that are not configuration (benchmark workers): no warning. */
const NOT_CONFIG = new Set(["RINGDHT_RING_WORKER", "RINGDHT_SIM_SCALE_WORKER"]);

const SETTABLE = new Set<string>([...Object.keys(DEFAULTS), ...GLOBAL_KEYS]);

/**
 * The configuration values in an environment: RINGDHT_<KEY> for every key.
 * Other RINGDHT_ variables get a warning (a typo, most likely).
 */
export function envValues(
  env: Readonly<Record<string, string | undefined>>,
  warnings: string[],
): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith("RINGDHT_") || value === undefined) continue;
    const key = name.slice("RINGDHT_".length).toLowerCase();
    if (SETTABLE.has(key) && name === envVar(key)) values[key] = value;
    else if (!NOT_CONFIG.has(name))
      warnings.push(`environment ${name} ignored: no such configuration key (a typo?)`);
  }
  return values;
}
