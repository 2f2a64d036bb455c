// host:port addresses as the config and CLI write them (IPv6 in brackets).

export interface Address {
  host: string;
  port: number;
}

/** Parses `host:port` / `[v6]:port`; returns undefined when malformed. */
export function parseAddress(text: string): Address | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port > 65_535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

export function formatAddress(a: Address): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Whether a remote socket address is on this machine's loopback. */
export function isLoopback(ip: string | undefined): boolean {
  if (ip === undefined) return false;
  return ip === "::1" || ip.startsWith("127.") || ip.startsWith("::ffff:127.");
}
