// Configuration: an INI file (global keys, and a [dht] section), parsed by the
// `ini` library and checked line by line for lines that are not `key = value`;
// `ringdht node` flags and RINGDHT_<KEY> environment variables on top
// (sources.ts). Raw values are merged per key (flags, then environment, then
// file, then defaults) and validated and converted once by a TypeBox schema.
// Every error is one line naming the source, the key and what was expected
// (ConfigError, exit status 2).

import { readFileSync } from "node:fs";
import { FormatRegistry, type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { parse as parseIni } from "ini";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../log.js";
import { type Address, parseAddress } from "../net/address.js";
import {
  ALIASES,
  DEFAULTS,
  GLOBAL_KEYS,
  MAX_REPLICATION,
  MAX_STORE_SECONDS_LIMIT,
} from "./defaults.js";
import { envName, envValues, flagName, type SettableKey } from "./sources.js";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export interface Config {
  apiAddress: Address;
  p2pAddress: Address;
  bootstrappers: Address[];
  defaultStoreSeconds: number;
  maxStoreSeconds: number;
  replication: number;
  successorListLength: number;
  stabilizeIntervalMs: number;
  storeQuotaBytes: number;
  maxApiConnections: number;
  apiMaxInflight: number;
  allowRemoteShutdown: boolean;
  powDifficulty: number;
  maxIdsPerIp: number;
  maxPeerConnectionsPerIp: number;
  limitLoopback: boolean;
  /** The admin HTTP endpoint; undefined: off. */
  httpAddress: Address | undefined;
  /** Where records persist (LMDB); undefined: in memory only. */
  dataDir: string | undefined;
  logLevel: LogLevel;
  logFormat: LogFormat;
  hostkey: string | undefined;
}

export interface LoadedConfig {
  config: Config;
  /** Things worth a warning once logging is up (unknown keys, aliases). */
  warnings: string[];
}

FormatRegistry.Set("address", (s) => parseAddress(s) !== undefined);
FormatRegistry.Set("address-or-empty", (s) => s.trim() === "" || parseAddress(s) !== undefined);
FormatRegistry.Set("address-list", (s) =>
  s.trim() === "" ? true : s.split(",").every((part) => parseAddress(part) !== undefined),
);

const int = (minimum: number, maximum: number, expected: string) =>
  Type.Integer({ minimum, maximum, description: expected });
const oneOf = <T extends string>(values: readonly T[]) =>
  Type.Unsafe<T>(
    Type.Union(
      values.map((v) => Type.Literal(v)),
      { description: `one of ${values.join(", ")}` },
    ),
  );

const DhtSection = Type.Object({
  api_address: Type.String({ format: "address", description: "host:port (IPv6 as [host]:port)" }),
  p2p_address: Type.String({ format: "address", description: "host:port (IPv6 as [host]:port)" }),
  bootstrapper: Type.String({
    format: "address-list",
    description: "host:port, or several separated by commas",
  }),
  default_store_duration: int(1, MAX_STORE_SECONDS_LIMIT, "whole seconds, at least 1"),
  max_store_duration: int(
    1,
    MAX_STORE_SECONDS_LIMIT,
    `whole seconds from 1 to ${MAX_STORE_SECONDS_LIMIT}`,
  ),
  replication: int(1, MAX_REPLICATION, `a whole number of copies from 1 to ${MAX_REPLICATION}`),
  successor_list_length: int(2, 32, "a whole number from 2 to 32"),
  stabilize_interval_ms: int(10, 60_000, "milliseconds from 10 to 60000"),
  store_quota_bytes: int(65_536, 2 ** 48, "a whole number of bytes, at least 65536"),
  max_api_connections: int(1, 1_000_000, "a whole number from 1 to 1000000"),
  api_max_inflight: int(1, 65_536, "a whole number from 1 to 65536"),
  allow_remote_shutdown: Type.Boolean({ description: "true or false" }),
  pow_difficulty: int(0, 32, "a whole number of bits from 0 to 32"),
  max_ids_per_ip: int(1, 65_536, "a whole number from 1 to 65536"),
  max_peer_connections_per_ip: int(1, 65_536, "a whole number from 1 to 65536"),
  limit_loopback: Type.Boolean({ description: "true or false" }),
  http_address: Type.String({
    format: "address-or-empty",
    description: "host:port (IPv6 as [host]:port), or empty for off",
  }),
  data_dir: Type.String({ description: "a folder path, or empty for in memory only" }),
  log_level: oneOf(LOG_LEVELS),
  log_format: oneOf(LOG_FORMATS),
});
type DhtSection = Static<typeof DhtSection>;

type Raw = Record<string, unknown>;

/** One source of raw values for loadConfig. */
interface Layer {
  /** Key -> value as the source gave it (text; the ini library's types for a file). */
  values: Raw;
  /** How an error names a key of this source, e.g. `flag --replication`. */
  name: (key: string) => string;
}

export interface ConfigSources {
  /** An INI file (`-c FILE`). */
  file?: string;
  /** The environment to read RINGDHT_<KEY> from (usually process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Flag values by key, as typed. */
  flags?: Readonly<Partial<Record<SettableKey, string>>>;
}

/**
 * The configuration from every source: flags over environment over file over
 * defaults. Throws ConfigError naming the source of the first bad value.
 */
export function loadConfig(sources: ConfigSources): LoadedConfig {
  const warnings: string[] = [];
  const layers: Layer[] = [];
  if (sources.file !== undefined) {
    layers.push(fileLayer(readConfigFile(sources.file), sources.file, warnings));
  }
  if (sources.env !== undefined)
    layers.push({ values: envValues(sources.env, warnings), name: envName });
  if (sources.flags !== undefined) layers.push({ values: { ...sources.flags }, name: flagName });
  return { config: resolve(layers), warnings };
}

/** Loads and validates a configuration file; throws ConfigError. */
export function loadConfigFile(file: string): LoadedConfig {
  return parseConfig(readConfigFile(file), file);
}

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new ConfigError(`${file}: cannot read the configuration file (${code})`);
  }
}

/** The embedded default configuration: what a node runs on with no file. */
export function defaultConfig(): Config {
  return parseConfig("", "(embedded defaults)").config;
}

export function parseConfig(text: string, file: string): LoadedConfig {
  const warnings: string[] = [];
  const layer = fileLayer(text, file, warnings);
  return { config: resolve([layer], layer.name), warnings };
}

/** A file's global and [dht] values, aliases mapped to our names. */
function fileLayer(text: string, file: string, warnings: string[]): Layer {
  const ini = parseIni(normalizeLines(text, file)) as Raw;
  const global = { ...pickScalars(ini), ...asSection(ini.global) };
  const { values, names } = canonicalKeys(asSection(ini.dht), file, warnings);
  const hostkey = global[GLOBAL_KEYS[0]];
  if (typeof hostkey === "string") values.hostkey = hostkey;
  return {
    values,
    name: (key) => (key === "hostkey" ? `${file}: ${key}` : `${file}: [dht] ${names[key] ?? key}`),
  };
}

/** Merges the layers (lowest precedence first) over the defaults and validates once. */
function resolve(layers: Layer[], fallback: (key: string) => string = (k) => k): Config {
  const raw: Raw = { ...DEFAULTS };
  const source: Record<string, (key: string) => string> = {};
  let hostkey: string | undefined;
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer.values)) {
      if (k === "hostkey") {
        hostkey = String(v);
        continue;
      }
      raw[k] = v;
      source[k] = layer.name;
    }
  }
  const name = (key: string) => (source[key] ?? fallback)(key);
  if (
    source.default_store_duration === undefined &&
    isWholeNumber(raw.max_store_duration) &&
    Number(raw.max_store_duration) >= 1
  ) {
    raw.default_store_duration = Math.min(
      DEFAULTS.default_store_duration,
      Number(raw.max_store_duration),
    );
  }
  const converted = convert(raw);
  if (!Value.Check(DhtSection, converted)) throw firstError(converted, raw, name);
  const section = converted as DhtSection;
  if (section.default_store_duration > section.max_store_duration) {
    throw new ConfigError(
      `${name("default_store_duration")}: expected at most max_store_duration (${section.max_store_duration}), got ${section.default_store_duration}`,
    );
  }
  if (section.replication > section.successor_list_length) {
    throw new ConfigError(
      source.replication === undefined && source.successor_list_length !== undefined
        ? `${name("successor_list_length")}: expected at least replication (${section.replication}), got ${section.successor_list_length}`
        : `${name("replication")}: expected at most successor_list_length (${section.successor_list_length}), got ${section.replication}`,
    );
  }
  return toConfig(section, hostkey);
}

const isWholeNumber = (v: unknown): boolean =>
  typeof v === "number"
    ? Number.isSafeInteger(v)
    : typeof v === "string" && /^\d{1,15}$/.test(v.trim());

/**
 * Whole numbers from their digits only (no truncation of 3.5 or 1e1), "true"
 * and "false" as booleans (flags and variables are text); the rest as written.
 */
function convert(raw: Raw): Raw {
  const out: Raw = {};
  for (const [k, v] of Object.entries(raw)) {
    const schema = DhtSection.properties[k as keyof DhtSection];
    if (schema?.type === "integer" && typeof v === "string" && isWholeNumber(v)) out[k] = Number(v);
    else if (schema?.type === "boolean" && (v === "true" || v === "false")) out[k] = v === "true";
    else out[k] = v;
  }
  return out;
}

/**
 * The ini library skips lines it cannot read and misses section headers with
 * a comment or indentation; the spec wants bad lines refused. Returns the text
 * with headers tidied, or throws at the first line that is not `key = value`.
 */
function normalizeLines(text: string, file: string): string {
  let section = "global";
  return text
    .split(/\r?\n/)
    .map((line, index) => {
      const trimmed = line.trim();
      if (trimmed === "" || trimmed.startsWith(";") || trimmed.startsWith("#")) return line;
      const header = /^\[([^\]]*)\]\s*([;#].*)?$/.exec(trimmed);
      if (header !== null) {
        section = header[1]!.trim();
        return `[${section}]`;
      }
      const eq = trimmed.indexOf("=");
      if ((section === "global" || section === "dht") && eq <= 0) {
        throw new ConfigError(
          `${file}:${index + 1}: [${section}] malformed line "${trimmed}": expected key = value`,
        );
      }
      return line;
    })
    .join("\n");
}

function pickScalars(ini: Raw): Raw {
  const out: Raw = {};
  for (const [k, v] of Object.entries(ini)) if (typeof v !== "object") out[k] = v;
  return out;
}

function asSection(v: unknown): Raw {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Raw) : {};
}

/** Maps aliases to our names (remembering which name the file used) and warns about unknown keys. */
function canonicalKeys(
  dht: Raw,
  file: string,
  warnings: string[],
): { values: Raw; names: Record<string, string> } {
  const values: Raw = {};
  const names: Record<string, string> = {};
  const text = (v: unknown) => (Array.isArray(v) ? v.join(",") : v);
  for (const [k, v] of Object.entries(dht)) {
    if (k in ALIASES) continue;
    if (k in DEFAULTS) values[k] = text(v);
    else warnings.push(`${file}: [dht] unknown key "${k}" ignored (a typo?)`);
  }
  for (const [alias, v] of Object.entries(dht).filter(([k]) => k in ALIASES)) {
    const name = ALIASES[alias]!;
    if (name in values) warnings.push(`${file}: [dht] ${alias} ignored: ${name} is set too`);
    else {
      values[name] = text(v);
      names[name] = alias;
    }
  }
  return { values, names };
}

function firstError(converted: Raw, raw: Raw, name: (key: string) => string): ConfigError {
  const error = Value.Errors(DhtSection, converted).First();
  const key = error?.path.replace(/^\//, "") ?? "?";
  const prop = DhtSection.properties[key as keyof DhtSection];
  const expected = prop?.description ?? error?.message ?? "a valid value";
  return new ConfigError(`${name(key)}: expected ${expected}, got ${JSON.stringify(raw[key])}`);
}

function address(text: string): Address {
  return parseAddress(text)!;
}

function toConfig(s: DhtSection, hostkey: string | undefined): Config {
  return {
    apiAddress: address(s.api_address),
    p2pAddress: address(s.p2p_address),
    bootstrappers: s.bootstrapper.trim() === "" ? [] : s.bootstrapper.split(",").map(address),
    defaultStoreSeconds: s.default_store_duration,
    maxStoreSeconds: s.max_store_duration,
    replication: s.replication,
    successorListLength: s.successor_list_length,
    stabilizeIntervalMs: s.stabilize_interval_ms,
    storeQuotaBytes: s.store_quota_bytes,
    maxApiConnections: s.max_api_connections,
    apiMaxInflight: s.api_max_inflight,
    allowRemoteShutdown: s.allow_remote_shutdown,
    powDifficulty: s.pow_difficulty,
    maxIdsPerIp: s.max_ids_per_ip,
    maxPeerConnectionsPerIp: s.max_peer_connections_per_ip,
    limitLoopback: s.limit_loopback,
    httpAddress: s.http_address.trim() === "" ? undefined : address(s.http_address),
    dataDir: s.data_dir.trim() === "" ? undefined : s.data_dir.trim(),
    logLevel: s.log_level,
    logFormat: s.log_format,
    hostkey,
  };
}
