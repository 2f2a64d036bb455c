// IP addresses as per-source limits see them. Policy: one group per IPv4
// address, and one per IPv6 /64 (the smallest block an ISP hands one
// subscriber, so a host that can pick any address in its /64 still counts as
// one source). An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as a dual-stack
// socket reports IPv4 peers) is its IPv4 address. Zone ids (%eth0) and
// brackets are dropped, case is ignored. Other IPv6 forms that embed IPv4
// (6to4, NAT64, the deprecated ::a.b.c.d) stay IPv6 and group by their /64.
// Text that is not an IP address (a host name) is its own group, lowercased:
// callers should group by the socket's remote address, which is always an IP.
// Pure text processing: no sockets, no name resolution.

/** Canonical text of an IP address, or undefined when `ip` is not one. */
export function normalizeIp(ip: string): string | undefined {
  const text = stripDecorations(ip);
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return v4.join(".");
  const v6 = parseIpv6(text);
  if (v6 === undefined) return undefined;
  const mapped = mappedIpv4(v6);
  return mapped ?? formatIpv6(v6);
}

/**
 * The group `ip` counts in for per-source limits: "a.b.c.d" for IPv4 (and
 * IPv4-mapped IPv6), "h0:h1:h2:h3::/64" (hextets in lowercase hex without
 * leading zeros, never compressed) for IPv6, and the trimmed, lowercased text
 * for anything else.
 */
export function ipGroup(ip: string): string {
  const text = stripDecorations(ip);
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return v4.join(".");
  const v6 = parseIpv6(text);
  if (v6 === undefined) return text;
  const mapped = mappedIpv4(v6);
  if (mapped !== undefined) return mapped;
  return `${v6
    .slice(0, 4)
    .map((h) => h.toString(16))
    .join(":")}::/64`;
}

/**
 * The host part of a P2P address: "host:port" → "host", "[v6]:port" → "v6"
 * (without brackets). Undefined when the text is not host:port with a port in
 * [0, 65535], or when an unbracketed host contains ':'.
 */
export function hostOf(addr: string): string | undefined {
  const m = /^(?:\[([^[\]\s]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(addr.trim());
  if (m === null || Number(m[3]) > 65_535) return undefined;
  return m[1] ?? m[2]!;
}

/** Whether `ip` is a loopback address: 127.0.0.0/8, ::1, or IPv4-mapped 127.x. */
export function isLoopbackIp(ip: string): boolean {
  const text = stripDecorations(ip);
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return v4[0] === 127;
  const v6 = parseIpv6(text);
  if (v6 === undefined) return false;
  if (isMapped(v6)) return v6[6]! >> 8 === 127;
  return v6.every((h, i) => h === (i === 7 ? 1 : 0));
}

/** Trims, lowercases, drops enclosing brackets and a zone id ("%eth0"). */
function stripDecorations(ip: string): string {
  let text = ip.trim().toLowerCase();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const zone = text.indexOf("%");
  if (zone >= 0 && text.includes(":")) text = text.slice(0, zone);
  return text;
}

/** Four octets of a dotted quad (decimal, no leading zeros), or undefined. */
function parseIpv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const p of parts) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    octets.push(n);
  }
  return octets;
}

/** Eight 16-bit hextets of an IPv6 address (lowercase, no zone), or undefined. */
function parseIpv6(text: string): number[] | undefined {
  if (!text.includes(":")) return undefined;
  let body = text;
  let tail: number[] = [];
  // An embedded dotted quad takes the last two hextets.
  const lastColon = body.lastIndexOf(":");
  if (body.indexOf(".", lastColon) >= 0) {
    const quad = parseIpv4(body.slice(lastColon + 1));
    if (quad === undefined) return undefined;
    tail = [(quad[0]! << 8) | quad[1]!, (quad[2]! << 8) | quad[3]!];
    body = body.slice(0, lastColon + 1);
    // "::1.2.3.4" leaves "::"; "a:b:...:1.2.3.4" leaves a trailing single ':' to drop.
    if (!body.endsWith("::")) body = body.slice(0, -1);
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const head = parseHextets(halves[0]!);
  const rest = halves.length === 2 ? parseHextets(halves[1]!) : [];
  if (head === undefined || rest === undefined) return undefined;
  const given = head.length + rest.length + tail.length;
  if (halves.length === 2) {
    // "::" stands for at least one zero hextet.
    if (given > 7) return undefined;
    return [...head, ...new Array<number>(8 - given).fill(0), ...rest, ...tail];
  }
  return given === 8 ? [...head, ...tail] : undefined;
}

/** Colon-separated groups of 1-4 hex digits ("" is none). */
function parseHextets(text: string): number[] | undefined {
  if (text === "") return [];
  const out: number[] = [];
  for (const part of text.split(":")) {
    if (!/^[0-9a-f]{1,4}$/.test(part)) return undefined;
    out.push(Number.parseInt(part, 16));
  }
  return out;
}

const isMapped = (h: number[]): boolean =>
  h[0] === 0 && h[1] === 0 && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0xffff;

function mappedIpv4(h: number[]): string | undefined {
  if (!isMapped(h)) return undefined;
  return [h[6]! >> 8, h[6]! & 0xff, h[7]! >> 8, h[7]! & 0xff].join(".");
}

/** RFC 5952 text: lowercase, no leading zeros, the longest run (≥ 2) of zero hextets as "::". */
function formatIpv6(h: number[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (h[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && h[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = h.map((x) => x.toString(16));
  if (bestAt < 0) return hex.join(":");
  return `${hex.slice(0, bestAt).join(":")}::${hex.slice(bestAt + bestLen).join(":")}`;
}
