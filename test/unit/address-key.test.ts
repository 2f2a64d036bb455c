import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import { KeyError, keyFromArg } from "../../src/cli/key.js";
import { formatAddress, isLoopback, parseAddress } from "../../src/net/address.js";

describe("parseAddress", () => {
  const good: Array<[string, string, number]> = [
    ["127.0.0.1:7401", "127.0.0.1", 7401],
    ["localhost:1", "localhost", 1],
    ["peer.example.org:65535", "peer.example.org", 65_535],
    ["10.0.0.1:0", "10.0.0.1", 0],
    ["[::1]:7401", "::1", 7401],
    ["[::]:80", "::", 80],
    ["[2001:db8::1]:6501", "2001:db8::1", 6501],
    ["[::ffff:127.0.0.1]:9", "::ffff:127.0.0.1", 9],
    ["[FE80::ABCD]:9", "FE80::ABCD", 9],
    ["  1.2.3.4:5  ", "1.2.3.4", 5],
    ["1.2.3.4:00080", "1.2.3.4", 80],
  ];
  for (const [text, host, port] of good) {
    test(`accepts ${JSON.stringify(text)}`, () => {
      assert.deepEqual(parseAddress(text), { host, port });
    });
  }

  const bad = [
    "",
    "localhost",
    "1.2.3.4",
    "1.2.3.4:",
    ":80",
    "1.2.3.4:65536",
    "1.2.3.4:99999",
    "1.2.3.4:123456",
    "1.2.3.4:-1",
    "1.2.3.4:8o",
    "1.2.3.4:80:90",
    "::1:7401",
    "[::1]",
    "[]:80",
    "[::1]7401",
    "[zz::1]:80",
    "[::1:80",
    "::1]:80",
    "host name:80",
    "1.2.3.4 :80",
  ];
  for (const text of bad) {
    test(`refuses ${JSON.stringify(text)}`, () => {
      assert.equal(parseAddress(text), undefined);
    });
  }
});

describe("formatAddress", () => {
  test("IPv4 and names as host:port, IPv6 in brackets", () => {
    assert.equal(formatAddress({ host: "127.0.0.1", port: 7401 }), "127.0.0.1:7401");
    assert.equal(formatAddress({ host: "peer.lan", port: 1 }), "peer.lan:1");
    assert.equal(formatAddress({ host: "::1", port: 7401 }), "[::1]:7401");
    assert.equal(formatAddress({ host: "2001:db8::1", port: 0 }), "[2001:db8::1]:0");
  });

  test("property: parseAddress(formatAddress(a)) = a", () => {
    const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain());
    fc.assert(
      fc.property(host, fc.integer({ min: 0, max: 65_535 }), (h, port) => {
        const a = { host: h, port };
        assert.deepEqual(parseAddress(formatAddress(a)), a);
      }),
    );
  });
});

describe("isLoopback", () => {
  const yes = ["127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "::ffff:127.0.0.1"];
  const no = [
    undefined,
    "",
    "10.0.0.1",
    "128.0.0.1",
    "1.127.0.0",
    "1270.0.0.1",
    "::2",
    "::ffff:10.0.0.1",
    "::ffff:128.0.0.1",
    "0.0.0.0",
    "::",
    "fe80::1",
  ];
  for (const ip of yes) test(`${ip} is loopback`, () => assert.equal(isLoopback(ip), true));
  for (const ip of no) {
    test(`${String(ip)} is not loopback`, () => assert.equal(isLoopback(ip), false));
  }
});

describe("keyFromArg", () => {
  const sha256 = (s: string): Buffer =>
    createHash("sha256").update(Buffer.from(s, "utf8")).digest();

  test("0x + 64 hex digits is the raw 32 bytes", () => {
    const hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    const key = keyFromArg(`0x${hex}`);
    assert.equal(key.length, 32);
    assert.equal(key.toString("hex"), hex.toLowerCase());
  });

  test("text is the SHA-256 of its UTF-8 bytes", () => {
    assert.equal(
      keyFromArg("hello").toString("hex"),
      "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    );
    assert.equal(
      keyFromArg("").toString("hex"),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    assert.deepEqual(keyFromArg("grüße ☎"), sha256("grüße ☎"));
  });

  test("near misses of the raw form are refused when they start with 0x, else hashed", () => {
    const h64 = "ab".repeat(32);
    for (const arg of [
      `0x${h64.slice(1)}`,
      `0x${h64}a`,
      `0x${h64.slice(2)}zz`,
      `0x${h64} `,
      `0x${h64}\n`,
      "0x1234",
    ]) {
      assert.throws(() => keyFromArg(arg), KeyError, JSON.stringify(arg));
    }
    for (const arg of [`0X${h64}`, h64, ` 0x${h64}`]) {
      assert.deepEqual(keyFromArg(arg), sha256(arg), JSON.stringify(arg));
    }
  });

  test("property: raw keys round-trip, in either case", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.boolean(), (raw, upper) => {
        const bytes = Buffer.from(raw);
        const hex = bytes.toString("hex");
        assert.deepEqual(keyFromArg(`0x${upper ? hex.toUpperCase() : hex}`), bytes);
      }),
    );
  });

  test("property: any other text hashes to SHA-256 of its UTF-8", () => {
    fc.assert(
      fc.property(
        fc
          .string({ unit: "grapheme", maxLength: 80 })
          .filter((s) => !/^0x[0-9a-fA-F]{64}$/.test(s)),
        (s) => {
          const key = keyFromArg(s);
          assert.equal(key.length, 32);
          assert.deepEqual(key, sha256(s));
        },
      ),
    );
  });
});
