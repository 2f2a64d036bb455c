// What the child process needs of a system under test: start and stop nodes,
// say when a node counts as formed, PUT and GET through a chosen node. The
// workload (child.ts) is the same for every system; only these calls differ.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface PeerSystem {
  readonly name: string;
  readonly version: string;
  /** What "formed" means for this system (printed with the results). */
  readonly formedNote: string;
  /** Starts node `i` (0 starts the network, the others bootstrap from it); resolves once it joined. */
  startNode(i: number): Promise<void>;
  /** Called once every node has started and counts as formed (ringdht: the heap policy of `ringdht testnet`). */
  afterFormed?(): void;
  /** Whether node `i` counts as formed now. */
  formed(i: number): boolean;
  /** Stores `value` under `key` through node `i`: a handle for get(), or null if not stored. */
  put(i: number, key: Buffer, value: Buffer): Promise<string | null>;
  /** Reads `handle` through node `i`: whether the value was found. */
  get(i: number, handle: string): Promise<boolean>;
  /** Stops node `i` abruptly (no graceful leave where the system has a choice). */
  stopNode(i: number): Promise<void>;
  closeAll(): Promise<void>;
}

export const HOST = "127.0.0.1";

/**
 * The folder holding bench/peers/package.json and its node_modules (the other
 * DHTs are installed there, not with the project). The compiled code runs from
 * dist/bench/peers/, three levels below the repository root.
 */
export const PEERS_DIR = fileURLToPath(new URL("../../../bench/peers/", import.meta.url));

const peerRequire = createRequire(`${PEERS_DIR}package.json`);

/** Loads a CommonJS package installed in bench/peers/. */
export function requirePeer(name: string): unknown {
  return peerRequire(name);
}

/** Loads an ES module package installed in bench/peers/ (its "import" entry). */
export async function importPeer(name: string, entry: string): Promise<unknown> {
  return import(pathToFileURL(`${PEERS_DIR}node_modules/${name}/${entry}`).href);
}

/** The installed version of a package in bench/peers/. */
export function peerVersion(name: string): string {
  // Read, not required: some packages' "exports" hide their package.json.
  const text = readFileSync(`${PEERS_DIR}node_modules/${name}/package.json`, "utf8");
  return (JSON.parse(text) as { version?: string }).version ?? "?";
}

/** A promise for a Node-style callback API. */
export function callback<T>(f: (cb: (err: Error | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => f((err, value) => (err ? reject(err) : resolve(value))));
}
