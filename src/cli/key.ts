// How the CLI turns a KEY argument into the API's 32 bytes:
//   0x followed by 64 hex digits  -> those 32 bytes, raw;
//   anything else                 -> SHA-256 of its UTF-8 text.

import { createHash } from "node:crypto";

const RAW_KEY = /^0x[0-9a-fA-F]{64}$/;

export function keyFromArg(arg: string): Buffer {
  if (RAW_KEY.test(arg)) return Buffer.from(arg.slice(2), "hex");
  return createHash("sha256").update(arg, "utf8").digest();
}
