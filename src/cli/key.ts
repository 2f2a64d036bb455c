// How the CLI turns a KEY argument into the API's 32 bytes:
//   0x followed by 64 hex digits  -> those 32 bytes, raw;
//   anything else starting with 0x -> refused (a raw key mistyped, not text);
//   anything else                 -> SHA-256 of its UTF-8 text.

import { createHash } from "node:crypto";

const RAW_KEY = /^0x[0-9a-fA-F]{64}$/;

export class KeyError extends Error {
  override readonly name = "KeyError";
}

/** The key's 32 bytes; throws KeyError for a malformed raw key. */
export function keyFromArg(arg: string): Buffer {
  if (RAW_KEY.test(arg)) return Buffer.from(arg.slice(2), "hex");
  if (arg.startsWith("0x")) {
    throw new KeyError(`malformed raw KEY "${arg}": 0x must be followed by exactly 64 hex digits`);
  }
  return createHash("sha256").update(arg, "utf8").digest();
}
