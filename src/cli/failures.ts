// How the CLI fails: one line on stderr and an exit status (README):
// 0 done; 1 not found / not kept; 2 bad usage or configuration (or a testnet
// beyond the limit on open files, cli/fd-limit.ts); 3 the node
// could not be reached; 4 a port is busy.

import { type Address, formatAddress } from "../net/address.js";

export const EXIT_NOT_FOUND = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;
export const EXIT_PORT_BUSY = 4;

export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    /** For a usage error: the command whose --help to point at. */
    readonly usageOf?: string,
  ) {
    super(message);
  }
}

/** The line that follows a usage error instead of the whole help. */
export const usageHint = (command: string | undefined): string =>
  `Run "ringdht${command === undefined ? "" : ` ${command}`} --help" for usage.`;

/** The first error with errno `code` in `err`'s cause chain (a listener's error, or one wrapping it). */
export function errnoInChain(err: unknown, code: string): NodeJS.ErrnoException | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; depth++) {
    if ((e as NodeJS.ErrnoException).code === code) return e as NodeJS.ErrnoException;
    e = e.cause;
  }
  return undefined;
}

/**
 * The address of an EADDRINUSE error anywhere in `err`'s cause chain (a
 * listener's error, or one wrapping it), or undefined when it is not one.
 */
export function addressInUse(err: unknown): Address | undefined {
  const e = errnoInChain(err, "EADDRINUSE") as
    | (NodeJS.ErrnoException & { address?: unknown; port?: unknown })
    | undefined;
  if (e === undefined) return undefined;
  const { address, port } = e;
  return typeof address === "string" && typeof port === "number"
    ? { host: address, port }
    : { host: "?", port: typeof port === "number" ? port : 0 };
}

/**
 * Exit status 4 for a busy address, named by the first candidate bound
 * there: the same host and port, else (a name resolved to an IP) the same port.
 */
export function portBusy(
  busy: Address,
  candidates: readonly (readonly [string, Address | undefined])[],
): CliFailure {
  const at = (same: (a: Address) => boolean) =>
    candidates.find(([, a]) => a !== undefined && same(a))?.[0];
  const name =
    at((a) => a.port === busy.port && a.host === busy.host) ?? at((a) => a.port === busy.port);
  const where = busy.host === "?" ? `port ${busy.port}` : formatAddress(busy);
  return new CliFailure(
    `${where}${name === undefined ? "" : ` (${name})`} is already in use`,
    EXIT_PORT_BUSY,
  );
}
