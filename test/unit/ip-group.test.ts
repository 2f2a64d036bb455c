// IP grouping for per-source limits (src/ring/ip-group.ts): IPv4 as itself,
// IPv4-mapped IPv6 as its IPv4 address, IPv6 by /64 however it is written
// (compressed anywhere, leading zeros, upper case, embedded dotted quad, zone
// id, brackets), checked against node:net's validity and the WHATWG URL
// parser's canonical IPv6 text; host extraction from P2P addresses; loopback.

import assert from "node:assert/strict";
import { isIP } from "node:net";
import { describe, test } from "node:test";
import fc from "fast-check";
import { hostOf, ipGroup, isLoopbackIp, normalizeIp } from "../../src/ring/ip-group.js";

describe("ipGroup", () => {
  test("IPv4 is its own group", () => {
    assert.equal(ipGroup("192.0.2.7"), "192.0.2.7");
    assert.equal(ipGroup(" 10.0.0.1 "), "10.0.0.1");
    assert.equal(ipGroup("0.0.0.0"), "0.0.0.0");
    assert.equal(ipGroup("255.255.255.255"), "255.255.255.255");
    assert.notEqual(ipGroup("192.0.2.7"), ipGroup("192.0.2.8"));
  });

  test("IPv4-mapped IPv6 is the IPv4 address, in every spelling", () => {
    for (const ip of [
      "::ffff:192.0.2.7",
      "::FFFF:192.0.2.7",
      "[::ffff:192.0.2.7]",
      "0:0:0:0:0:ffff:192.0.2.7",
      "0000:0000:0000:0000:0000:FFFF:192.0.2.7",
      "::ffff:c000:207",
      "::ffff:C000:0207",
      "0::ffff:c000:207",
    ])
      assert.equal(ipGroup(ip), "192.0.2.7", ip);
  });

  test("IPv6 groups by /64, however the address is written", () => {
    const group = "2001:db8:0:1::/64";
    for (const ip of [
      "2001:db8:0:1::1",
      "2001:DB8:0:1::abcd",
      "2001:0db8:0000:0001:0000:0000:0000:0001",
      "2001:db8::1:0:0:0:1",
      "2001:db8:0:1:ffff:ffff:ffff:ffff",
      "2001:db8:0:1::",
      "[2001:db8:0:1::1]",
      "2001:db8:0:1::1%eth0",
      "2001:db8:0:1:1:2:192.0.2.1",
      "2001:db8:0:1::192.0.2.1",
    ])
      assert.equal(ipGroup(ip), group, ip);
    assert.equal(ipGroup("2001:db8:0:2::1"), "2001:db8:0:2::/64");
    assert.equal(ipGroup("2001:db8::"), "2001:db8:0:0::/64");
    assert.equal(ipGroup("2001:db8::1:2:3:4"), "2001:db8:0:0::/64", ":: in the /64");
    assert.equal(ipGroup("2001:db8:1::"), "2001:db8:1:0::/64");
  });

  test("the :: run is expanded to the right length", () => {
    assert.equal(ipGroup("::"), "0:0:0:0::/64");
    assert.equal(ipGroup("::1"), "0:0:0:0::/64");
    assert.equal(ipGroup("1::"), "1:0:0:0::/64");
    assert.equal(ipGroup("1:2:3::"), "1:2:3:0::/64");
    assert.equal(ipGroup("1:2:3:4:5:6:7::"), "1:2:3:4::/64");
    assert.equal(ipGroup("::4:5:6:7:8"), "0:0:0:4::/64");
    assert.equal(ipGroup("::3:4:5:6:7:8"), "0:0:3:4::/64");
    assert.equal(ipGroup("1::4:5:6:7:8"), "1:0:0:4::/64");
    assert.equal(ipGroup("fe80::1%25"), "fe80:0:0:0::/64");
  });

  test("IPv4 embedded other than mapped stays IPv6", () => {
    assert.equal(ipGroup("::192.0.2.7"), "0:0:0:0::/64");
    assert.equal(ipGroup("64:ff9b::192.0.2.7"), "64:ff9b:0:0::/64");
    assert.equal(ipGroup("::fffe:192.0.2.7"), "0:0:0:0::/64");
  });

  test("text that is not an IP is its own group, lowercased", () => {
    assert.equal(ipGroup("LocalHost"), "localhost");
    assert.equal(ipGroup("1:2:3:4:5:6:7:8:9"), "1:2:3:4:5:6:7:8:9");
    assert.equal(ipGroup("01.2.3.4"), "01.2.3.4");
  });
});

describe("normalizeIp", () => {
  test("canonical text, RFC 5952 compression", () => {
    assert.equal(normalizeIp("2001:DB8:0:0:1:0:0:1"), "2001:db8::1:0:0:1", "leftmost longest run");
    assert.equal(normalizeIp("2001:db8:0:0:0:1:0:0"), "2001:db8::1:0:0");
    assert.equal(normalizeIp("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1", "one zero stays");
    assert.equal(normalizeIp("0:0:0:0:0:0:0:0"), "::");
    assert.equal(normalizeIp("[::1]"), "::1");
    assert.equal(normalizeIp("fe80::1%eth0"), "fe80::1");
    assert.equal(normalizeIp("::ffff:7f00:1"), "127.0.0.1");
    assert.equal(normalizeIp("1.2.3.4"), "1.2.3.4");
  });

  test("invalid addresses", () => {
    for (const ip of [
      "",
      ":",
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "::1:2:3:4:5:6:7:8",
      "12345::",
      "g::",
      ":1::",
      "1::2:",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "01.2.3.4",
      "1.2.3.-4",
      "::ffff:1.2.3",
      "::ffff:256.1.1.1",
      "1:2:3:4:5:6:7:1.2.3.4",
      "1.2.3.4::",
      "::1.2.3.4:5",
      "example.org",
    ])
      assert.equal(normalizeIp(ip), undefined, ip);
  });

  test("agrees with node:net on which strings are IP addresses", () => {
    const chars = fc.constantFrom(..."0123456789abcdefF:.".split(""));
    fc.assert(
      fc.property(
        fc.array(chars, { maxLength: 24 }).map((a) => a.join("")),
        (s) => {
          assert.equal(normalizeIp(s) !== undefined, isIP(s) !== 0, s);
        },
      ),
      { numRuns: 20_000 },
    );
  });

  test("property: any spelling of an IPv6 address normalizes and groups as its hextets say", () => {
    const hextet = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    const spelling = fc.record({
      hextets: fc.array(hextet, { minLength: 8, maxLength: 8 }),
      pad: fc.boolean(),
      upper: fc.boolean(),
      compress: fc.nat(),
      quad: fc.boolean(),
      zone: fc.boolean(),
      brackets: fc.boolean(),
    });
    fc.assert(
      fc.property(spelling, (s) => {
        const h = s.hextets;
        const text = spell(s);
        assert.notEqual(isIP(text.replace(/^\[|\]$/g, "")), 0, text);
        const full = h.map((x) => x.toString(16)).join(":");
        const mapped = h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff;
        const v4 = [h[6]! >> 8, h[6]! & 255, h[7]! >> 8, h[7]! & 255].join(".");
        const canonical = mapped ? v4 : new URL(`http://[${full}]/`).hostname.slice(1, -1);
        assert.equal(normalizeIp(text), canonical, text);
        const group = mapped
          ? v4
          : `${h
              .slice(0, 4)
              .map((x) => x.toString(16))
              .join(":")}::/64`;
        assert.equal(ipGroup(text), group, text);
      }),
      { numRuns: 2000 },
    );
  });
});

/** One textual form of 8 hextets: padded or not, any case, any zero run compressed, etc. */
function spell(s: {
  hextets: number[];
  pad: boolean;
  upper: boolean;
  compress: number;
  quad: boolean;
  zone: boolean;
  brackets: boolean;
}): string {
  const h = s.hextets;
  const words = h.map((x) => (s.pad ? x.toString(16).padStart(4, "0") : x.toString(16)));
  let tail: string[] = [];
  if (s.quad) {
    tail = [[h[6]! >> 8, h[6]! & 255, h[7]! >> 8, h[7]! & 255].join(".")];
    words.length = 6;
  }
  // every run of zero hextets [i, j) among the words, any of which may become "::"
  const runs: Array<[number, number]> = [];
  for (let i = 0; i < words.length; i++)
    for (let j = i + 1; j <= words.length && h[j - 1] === 0; j++) runs.push([i, j]);
  let text: string;
  const pick = runs.length === 0 ? -1 : s.compress % (runs.length + 1);
  if (pick < 0 || pick === runs.length) {
    text = [...words, ...tail].join(":");
  } else {
    const [i, j] = runs[pick]!;
    const left = words.slice(0, i).join(":");
    const right = [...words.slice(j), ...tail].join(":");
    text = `${left}::${right}`;
  }
  if (s.upper) text = text.toUpperCase();
  if (s.zone) text += "%eth0";
  return s.brackets ? `[${text}]` : text;
}

describe("hostOf", () => {
  test("host:port and [v6]:port", () => {
    assert.equal(hostOf("10.0.0.1:4000"), "10.0.0.1");
    assert.equal(hostOf("node-1.example:4000"), "node-1.example");
    assert.equal(hostOf("[::1]:4000"), "::1");
    assert.equal(hostOf("[2001:db8::1%eth0]:1"), "2001:db8::1%eth0");
    assert.equal(hostOf("[::ffff:10.0.0.1]:65535"), "::ffff:10.0.0.1");
    assert.equal(hostOf(" 10.0.0.1:0 "), "10.0.0.1");
  });

  test("malformed addresses", () => {
    for (const addr of [
      "",
      "10.0.0.1",
      "10.0.0.1:",
      "10.0.0.1:65536",
      "10.0.0.1:123456",
      "10.0.0.1:-1",
      "10.0.0.1:4000x",
      "::1:4000",
      "[::1]",
      "[::1]:",
      "[]:4000",
      "[::1:4000",
      ":4000",
      "a b:4000",
    ])
      assert.equal(hostOf(addr), undefined, addr);
  });

  test("composes with ipGroup", () => {
    assert.equal(ipGroup(hostOf("[2001:db8:0:1::9]:4000")!), "2001:db8:0:1::/64");
    assert.equal(ipGroup(hostOf("[::ffff:10.0.0.1]:4000")!), "10.0.0.1");
  });
});

describe("isLoopbackIp", () => {
  test("loopback addresses", () => {
    for (const ip of [
      "127.0.0.1",
      "127.255.255.254",
      "127.0.0.0",
      "::1",
      "[::1]",
      "0:0:0:0:0:0:0:1",
      "0000::0001",
      "::ffff:127.0.0.1",
      "::FFFF:7f00:1",
      " ::1 ",
    ])
      assert.ok(isLoopbackIp(ip), ip);
  });

  test("other addresses", () => {
    for (const ip of [
      "128.0.0.1",
      "126.255.255.255",
      "10.0.0.1",
      "0.0.0.0",
      "::",
      "::2",
      "1::1",
      "::127.0.0.1",
      "::ffff:10.0.0.1",
      "localhost",
      "127.0.0",
      "",
    ])
      assert.ok(!isLoopbackIp(ip), ip);
  });
});
