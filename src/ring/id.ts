// 256-bit ring identifiers as 64 lowercase hex digits: fixed width, so string
// order is numeric order, and they serve as Map keys as they are. A node's ID
// is SHA-256 of its P2P address text; a key's position is SHA-256 of its 32
// API bytes, so low-entropy keys spread evenly over the ring.

import { createHash } from "node:crypto";

export type Id = string;

export const ID_BITS = 256;
const MODULUS = 1n << 256n;
export const ZERO_ID: Id = "0".repeat(64);
export const MAX_ID: Id = "f".repeat(64);

const sha256hex = (data: string | Buffer): Id => createHash("sha256").update(data).digest("hex");

/** The ID of the node listening for peers at `address` ("host:port" text). */
export const nodeIdOf = (address: string): Id => sha256hex(address);

/** The ring position of a 32-byte API key. */
export const keyPosition = (key: Buffer): Id => sha256hex(key);

export const idToBigInt = (id: Id): bigint => BigInt(`0x${id}`);
export const bigIntToId = (n: bigint): Id =>
  (((n % MODULUS) + MODULUS) % MODULUS).toString(16).padStart(64, "0");

/** (id + 2^i) mod 2^256: the start of finger i. */
export const fingerStart = (id: Id, i: number): Id =>
  bigIntToId(idToBigInt(id) + (1n << BigInt(i)));

/** Clockwise distance from a to b, as a bigint in [0, 2^256). */
export const distance = (a: Id, b: Id): bigint =>
  (((idToBigInt(b) - idToBigInt(a)) % MODULUS) + MODULUS) % MODULUS;

/** A short form for logs. */
export const shortId = (id: Id): string => id.slice(0, 8);

export const isId = (s: string): boolean => /^[0-9a-f]{64}$/.test(s);
