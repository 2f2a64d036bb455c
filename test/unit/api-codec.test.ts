import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  API_MAX_VALUE_BYTES,
  type ApiMessage,
  ApiProtocolError,
  decodeApi,
  encodeApi,
  headerProblem,
  type Sender,
} from "../../src/wire/api.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const key3 = Buffer.alloc(32, 0x03);

/** A frame with the given header and `size - 4` zero bytes of body. */
function frame(size: number, type: number, bodyLength = Math.max(size - 4, 0)): Buffer {
  const buf = Buffer.alloc(4 + bodyLength);
  buf.writeUInt16BE(size, 0);
  buf.writeUInt16BE(type, 2);
  return buf;
}

const senderOf = (msg: ApiMessage): Sender =>
  msg.type === "success" || msg.type === "failure" ? "node" : "client";

describe("API codec: the spec's worked examples", () => {
  const putHex = `002D028A000C0400${"03".repeat(32)}0102030405`;

  test("PUT ttl=12 replication=4 key=32x03 value=0102030405 encodes byte for byte", () => {
    const bytes = encodeApi({
      type: "put",
      ttl: 12,
      replication: 4,
      key: key3,
      value: hex("0102030405"),
    });
    assert.equal(bytes.toString("hex").toUpperCase(), putHex);
    assert.equal(bytes.length, 45);
  });

  test("PUT example decodes", () => {
    assert.deepEqual(decodeApi(hex(putHex), "client"), {
      type: "put",
      ttl: 12,
      replication: 4,
      key: key3,
      value: hex("0102030405"),
    });
  });

  test("PUT reserved byte is ignored on receipt", () => {
    const bytes = hex(putHex);
    bytes[7] = 0xff;
    const msg = decodeApi(bytes, "client");
    assert.deepEqual(msg, {
      type: "put",
      ttl: 12,
      replication: 4,
      key: key3,
      value: hex("0102030405"),
    });
  });

  test("GET encodes as 00 24 02 8B + key and decodes", () => {
    const bytes = encodeApi({ type: "get", key: key3 });
    assert.deepEqual(bytes, Buffer.concat([hex("0024028B"), key3]));
    assert.deepEqual(decodeApi(bytes, "client"), { type: "get", key: key3 });
  });

  test("FAILURE encodes as 00 24 02 8D + key and decodes", () => {
    const bytes = encodeApi({ type: "failure", key: key3 });
    assert.deepEqual(bytes, Buffer.concat([hex("0024028D"), key3]));
    assert.deepEqual(decodeApi(bytes, "node"), { type: "failure", key: key3 });
  });

  test("SUCCESS with a 3-byte value encodes as 00 27 02 8C + key + value and decodes", () => {
    const value = hex("AABBCC");
    const bytes = encodeApi({ type: "success", key: key3, value });
    assert.deepEqual(bytes, Buffer.concat([hex("0027028C"), key3, value]));
    assert.deepEqual(decodeApi(bytes, "node"), { type: "success", key: key3, value });
  });

  test("SHUTDOWN encodes as 00 04 02 8E and decodes", () => {
    const bytes = encodeApi({ type: "shutdown" });
    assert.deepEqual(bytes, hex("0004028E"));
    assert.deepEqual(decodeApi(bytes, "client"), { type: "shutdown" });
  });

  test("ttl and replication use their full ranges, big-endian", () => {
    const bytes = encodeApi({
      type: "put",
      ttl: 0xabcd,
      replication: 0xfe,
      key: key3,
      value: hex("01"),
    });
    assert.equal(bytes.subarray(0, 8).toString("hex"), "0029028aabcdfe00");
  });
});

describe("API codec: size rules (headerProblem)", () => {
  const allTypes = [650, 651, 652, 653, 654];

  test("size below 4 is rejected for every type and sender", () => {
    for (const sender of ["client", "node"] as const) {
      for (const type of [...allTypes, 0, 999]) {
        for (let size = 0; size < 4; size++) {
          assert.match(
            headerProblem(size, type, sender) ?? "",
            new RegExp(`size ${size} is below the 4-byte header`),
            `size ${size} type ${type} sender ${sender}`,
          );
        }
      }
    }
  });

  test("GET must be exactly 36", () => {
    assert.equal(headerProblem(36, 651, "client"), undefined);
    for (const size of [4, 35, 37, 40, 65_535]) {
      assert.match(headerProblem(size, 651, "client") ?? "", /GET size \d+ must be 36/);
    }
  });

  test("PUT must exceed 40", () => {
    assert.equal(headerProblem(41, 650, "client"), undefined);
    assert.equal(headerProblem(65_535, 650, "client"), undefined);
    for (const size of [4, 36, 39, 40]) {
      assert.match(headerProblem(size, 650, "client") ?? "", /PUT size \d+ must exceed 40/);
    }
  });

  test("SHUTDOWN must be exactly 4", () => {
    assert.equal(headerProblem(4, 654, "client"), undefined);
    for (const size of [5, 36, 65_535]) {
      assert.match(headerProblem(size, 654, "client") ?? "", /SHUTDOWN size \d+ must be 4/);
    }
  });

  test("unknown types are rejected from either side", () => {
    for (const sender of ["client", "node"] as const) {
      for (const type of [0, 1, 500, 649, 655, 999, 65_535]) {
        assert.equal(headerProblem(36, type, sender), `unknown message type ${type}`);
      }
    }
  });

  test("SUCCESS and FAILURE from a client are rejected", () => {
    assert.match(headerProblem(37, 652, "client") ?? "", /SUCCESS is sent only by nodes/);
    assert.match(headerProblem(36, 653, "client") ?? "", /FAILURE is sent only by nodes/);
  });

  test("PUT, GET and SHUTDOWN from a node are rejected", () => {
    assert.match(headerProblem(45, 650, "node") ?? "", /PUT is sent only by clients/);
    assert.match(headerProblem(36, 651, "node") ?? "", /GET is sent only by clients/);
    assert.match(headerProblem(4, 654, "node") ?? "", /SHUTDOWN is sent only by clients/);
  });

  test("SUCCESS and FAILURE from a node follow their sizes", () => {
    assert.equal(headerProblem(37, 652, "node"), undefined);
    assert.equal(headerProblem(65_535, 652, "node"), undefined);
    assert.notEqual(headerProblem(36, 652, "node"), undefined);
    assert.equal(headerProblem(36, 653, "node"), undefined);
    assert.notEqual(headerProblem(37, 653, "node"), undefined);
    assert.notEqual(headerProblem(35, 653, "node"), undefined);
  });
});

describe("API codec: decodeApi rejects malformed frames", () => {
  const bad: Array<[string, Buffer, Sender]> = [
    ["empty", Buffer.alloc(0), "client"],
    ["3 bytes", hex("000402"), "client"],
    ["size 0", frame(0, 654, 0), "client"],
    ["size 3", frame(3, 654, 0), "client"],
    ["GET size 35", frame(35, 651), "client"],
    ["GET size 37", frame(37, 651), "client"],
    ["PUT size 40 (empty value)", frame(40, 650), "client"],
    ["PUT size 36", frame(36, 650), "client"],
    ["SHUTDOWN size 5", frame(5, 654), "client"],
    ["unknown type 999", frame(36, 999), "client"],
    ["unknown type 649", frame(4, 649), "client"],
    ["SUCCESS from a client", frame(37, 652), "client"],
    ["FAILURE from a client", frame(36, 653), "client"],
    ["PUT from a node", frame(45, 650), "node"],
    ["GET from a node", frame(36, 651), "node"],
    ["SHUTDOWN from a node", frame(4, 654), "node"],
    ["SUCCESS with no value", frame(36, 652), "node"],
    ["size field larger than the frame", frame(36, 651, 31), "client"],
    ["size field smaller than the frame", frame(36, 651, 33), "client"],
  ];
  for (const [name, bytes, sender] of bad) {
    test(name, () => {
      assert.throws(() => decodeApi(bytes, sender), ApiProtocolError);
    });
  }

  test("ApiProtocolError carries its name", () => {
    try {
      decodeApi(frame(36, 999), "client");
      assert.fail("expected a throw");
    } catch (err) {
      assert.ok(err instanceof ApiProtocolError);
      assert.equal(err.name, "ApiProtocolError");
      assert.equal(err.message, "unknown message type 999");
    }
  });
});

describe("API codec: value size limits", () => {
  test("largest PUT value (65,495 bytes) round-trips in a 65,535-byte frame", () => {
    assert.equal(API_MAX_VALUE_BYTES, 65_495);
    const value = Buffer.alloc(65_495);
    for (let i = 0; i < value.length; i++) value[i] = i & 0xff;
    const bytes = encodeApi({ type: "put", ttl: 1, replication: 2, key: key3, value });
    assert.equal(bytes.length, 65_535);
    assert.equal(bytes.readUInt16BE(0), 65_535);
    assert.deepEqual(decodeApi(bytes, "client"), {
      type: "put",
      ttl: 1,
      replication: 2,
      key: key3,
      value,
    });
  });

  test("a 65,496-byte PUT value throws on encode", () => {
    assert.throws(
      () =>
        encodeApi({
          type: "put",
          ttl: 1,
          replication: 2,
          key: key3,
          value: Buffer.alloc(65_496),
        }),
      RangeError,
    );
  });

  test("largest SUCCESS value (65,499 bytes) round-trips; one more throws", () => {
    const value = Buffer.alloc(65_499, 7);
    const bytes = encodeApi({ type: "success", key: key3, value });
    assert.equal(bytes.length, 65_535);
    assert.deepEqual(decodeApi(bytes, "node"), { type: "success", key: key3, value });
    assert.throws(
      () => encodeApi({ type: "success", key: key3, value: Buffer.alloc(65_500) }),
      RangeError,
    );
  });

  test("empty values and wrong key lengths throw on encode", () => {
    const empty = Buffer.alloc(0);
    assert.throws(
      () => encodeApi({ type: "put", ttl: 1, replication: 1, key: key3, value: empty }),
      RangeError,
    );
    assert.throws(() => encodeApi({ type: "success", key: key3, value: empty }), RangeError);
    assert.throws(() => encodeApi({ type: "get", key: Buffer.alloc(31) }), RangeError);
    assert.throws(() => encodeApi({ type: "failure", key: Buffer.alloc(33) }), RangeError);
    assert.throws(
      () => encodeApi({ type: "put", ttl: 1, replication: 1, key: key3.subarray(1), value: key3 }),
      RangeError,
    );
  });
});

describe("API codec: properties", () => {
  const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a));
  const value = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a));
  const message: fc.Arbitrary<ApiMessage> = fc.oneof(
    fc.record(
      {
        type: fc.constant("put" as const),
        ttl: fc.integer({ min: 0, max: 0xffff }),
        replication: fc.integer({ min: 0, max: 0xff }),
        key,
        value,
      },
      { noNullPrototype: true },
    ),
    fc.record({ type: fc.constant("get" as const), key }, { noNullPrototype: true }),
    fc.record({ type: fc.constant("success" as const), key, value }, { noNullPrototype: true }),
    fc.record({ type: fc.constant("failure" as const), key }, { noNullPrototype: true }),
    fc.constant<ApiMessage>({ type: "shutdown" }),
  );

  test("encode -> decode is the identity", () => {
    fc.assert(
      fc.property(message, (msg) => {
        const bytes = encodeApi(msg);
        assert.equal(bytes.readUInt16BE(0), bytes.length);
        assert.deepEqual(decodeApi(bytes, senderOf(msg)), msg);
      }),
    );
  });

  test("decode -> encode reproduces the frame (reserved byte zero)", () => {
    fc.assert(
      fc.property(message, (msg) => {
        const bytes = encodeApi(msg);
        assert.deepEqual(encodeApi(decodeApi(bytes, senderOf(msg))), bytes);
      }),
    );
  });

  test("decodeApi on arbitrary bytes returns or throws ApiProtocolError, nothing else", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }),
        fc.constantFrom<Sender>("client", "node"),
        (raw, sender) => {
          const bytes = Buffer.from(raw);
          try {
            decodeApi(bytes, sender);
          } catch (err) {
            assert.ok(err instanceof ApiProtocolError, String(err));
          }
        },
      ),
    );
  });
});
