import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { type ApiMessage, ApiProtocolError, encodeApi, type Sender } from "../../src/wire/api.js";
import { FrameDecoder } from "../../src/wire/frame-decoder.js";

const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a));
const value = fc.uint8Array({ minLength: 1, maxLength: 200 }).map((a) => Buffer.from(a));

const clientMessage: fc.Arbitrary<ApiMessage> = fc.oneof(
  fc.record({
    type: fc.constant("put" as const),
    ttl: fc.integer({ min: 0, max: 0xffff }),
    replication: fc.integer({ min: 0, max: 0xff }),
    key,
    value,
  }),
  fc.record({ type: fc.constant("get" as const), key }, { noNullPrototype: true }),
  fc.constant<ApiMessage>({ type: "shutdown" }),
);

const nodeMessage: fc.Arbitrary<ApiMessage> = fc.oneof(
  fc.record({ type: fc.constant("success" as const), key, value }, { noNullPrototype: true }),
  fc.record({ type: fc.constant("failure" as const), key }, { noNullPrototype: true }),
);

/** Splits `bytes` at the given cut points (any integers; taken modulo length+1). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/** Feeds every chunk, copying each frame (frames may be views into chunks). */
function feed(decoder: FrameDecoder, chunks: Buffer[]): Buffer[] {
  const frames: Buffer[] = [];
  for (const chunk of chunks)
    decoder.push(chunk, (f) => {
      frames.push(Buffer.from(f));
      return true;
    });
  return frames;
}

function header(size: number, type: number): Buffer {
  const buf = Buffer.alloc(4);
  buf.writeUInt16BE(size, 0);
  buf.writeUInt16BE(type, 2);
  return buf;
}

const get = encodeApi({ type: "get", key: Buffer.alloc(32, 9) });
const shutdown = encodeApi({ type: "shutdown" });
const put = encodeApi({
  type: "put",
  ttl: 5,
  replication: 1,
  key: Buffer.alloc(32, 1),
  value: Buffer.from("hello"),
});

describe("FrameDecoder: reassembly", () => {
  for (const [sender, arb] of [
    ["client", clientMessage],
    ["node", nodeMessage],
  ] as const) {
    test(`any split of concatenated ${sender} frames yields the frames in order`, () => {
      fc.assert(
        fc.property(
          fc.array(arb, { minLength: 0, maxLength: 12 }),
          fc.array(fc.nat(), { maxLength: 20 }),
          (msgs, cuts) => {
            const frames = msgs.map(encodeApi);
            const decoder = new FrameDecoder(sender as Sender);
            const out = feed(decoder, split(Buffer.concat(frames), cuts));
            assert.deepEqual(out, frames);
            assert.equal(decoder.buffered, 0);
          },
        ),
      );
    });
  }

  test("one byte at a time", () => {
    fc.assert(
      fc.property(fc.array(clientMessage, { minLength: 1, maxLength: 6 }), (msgs) => {
        const frames = msgs.map(encodeApi);
        const all = Buffer.concat(frames);
        const chunks: Buffer[] = [];
        for (let i = 0; i < all.length; i++) chunks.push(all.subarray(i, i + 1));
        const decoder = new FrameDecoder("client");
        assert.deepEqual(feed(decoder, chunks), frames);
        assert.equal(decoder.buffered, 0);
      }),
      { numRuns: 50 },
    );
  });

  test("all at once", () => {
    const decoder = new FrameDecoder("client");
    const frames = [put, get, shutdown, get, put, shutdown];
    assert.deepEqual(feed(decoder, [Buffer.concat(frames)]), frames);
    assert.equal(decoder.buffered, 0);
  });

  test("empty chunks are harmless, also in the middle of a frame", () => {
    const decoder = new FrameDecoder("client");
    const empty = Buffer.alloc(0);
    const out = feed(decoder, [
      empty,
      put.subarray(0, 2),
      empty,
      put.subarray(2, 10),
      empty,
      put.subarray(10),
      empty,
    ]);
    assert.deepEqual(out, [put]);
  });

  test("buffered reports the bytes held for an incomplete frame", () => {
    const decoder = new FrameDecoder("client");
    const frames: Buffer[] = [];
    const onFrame = (f: Buffer) => {
      frames.push(Buffer.from(f));
      return true;
    };
    assert.equal(decoder.buffered, 0);
    decoder.push(put.subarray(0, 3), onFrame);
    assert.equal(decoder.buffered, 3);
    decoder.push(put.subarray(3, 20), onFrame);
    assert.equal(decoder.buffered, 20);
    decoder.push(Buffer.concat([put.subarray(20), get.subarray(0, 7)]), onFrame);
    assert.deepEqual(frames, [put]);
    assert.equal(decoder.buffered, 7);
    decoder.push(get.subarray(7), onFrame);
    assert.deepEqual(frames, [put, get]);
    assert.equal(decoder.buffered, 0);
  });

  test("a max-size PUT fed byte by byte never buffers more than 65,535 bytes", () => {
    const frame = encodeApi({
      type: "put",
      ttl: 60,
      replication: 3,
      key: Buffer.alloc(32, 0xaa),
      value: Buffer.alloc(65_495, 0x5a),
    });
    assert.equal(frame.length, 65_535);
    const decoder = new FrameDecoder("client");
    const frames: Buffer[] = [];
    let max = 0;
    for (let i = 0; i < frame.length; i++) {
      decoder.push(frame.subarray(i, i + 1), (f) => frames.push(Buffer.from(f)));
      max = Math.max(max, decoder.buffered);
      if (i < frame.length - 1) assert.equal(decoder.buffered, i + 1);
    }
    assert.equal(max, 65_534);
    assert.ok(max <= 65_535);
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0], frame);
    assert.equal(decoder.buffered, 0);
  });

  test("two max-size frames in one chunk, then split across the boundary", () => {
    const frame = encodeApi({
      type: "put",
      ttl: 1,
      replication: 1,
      key: Buffer.alloc(32, 1),
      value: Buffer.alloc(65_495, 2),
    });
    const all = Buffer.concat([frame, frame, get]);
    const decoder = new FrameDecoder("client");
    assert.deepEqual(feed(decoder, [all]), [frame, frame, get]);
    const again = new FrameDecoder("client");
    assert.deepEqual(
      feed(again, [all.subarray(0, 65_537), all.subarray(65_537, 131_071), all.subarray(131_071)]),
      [frame, frame, get],
    );
  });
});

describe("FrameDecoder: bad headers", () => {
  test("a header announcing type 999 throws with no body sent", () => {
    const decoder = new FrameDecoder("client");
    assert.throws(() => decoder.push(header(36, 999), () => {}), ApiProtocolError);
  });

  test("a bad header split across chunks throws once its 4th byte arrives", () => {
    const decoder = new FrameDecoder("client");
    const h = header(36, 999);
    decoder.push(h.subarray(0, 1), () => assert.fail("no frame expected"));
    decoder.push(h.subarray(1, 3), () => assert.fail("no frame expected"));
    assert.throws(() => decoder.push(h.subarray(3), () => {}), ApiProtocolError);
  });

  test("a GET header with size 37 throws before the body", () => {
    const decoder = new FrameDecoder("client");
    assert.throws(() => decoder.push(header(37, 651), () => {}), /GET size 37 must be 36/);
  });

  test("a PUT announcing size 40 (empty value) throws before the body", () => {
    const decoder = new FrameDecoder("client");
    assert.throws(() => decoder.push(header(40, 650), () => {}), ApiProtocolError);
  });

  test("a header with size below 4 throws (and does not loop)", () => {
    for (const size of [0, 1, 2, 3]) {
      const decoder = new FrameDecoder("client");
      assert.throws(() => decoder.push(header(size, 654), () => {}), ApiProtocolError);
    }
  });

  test("replies are rejected by a client-facing decoder, requests by a node-facing one", () => {
    const success = encodeApi({ type: "success", key: Buffer.alloc(32), value: Buffer.from("x") });
    assert.throws(() => new FrameDecoder("client").push(success, () => {}), ApiProtocolError);
    assert.throws(() => new FrameDecoder("node").push(get, () => {}), ApiProtocolError);
  });

  test("frames before a bad header are delivered, then it throws", () => {
    const decoder = new FrameDecoder("client");
    const frames: Buffer[] = [];
    assert.throws(
      () =>
        decoder.push(Buffer.concat([get, shutdown, header(36, 653)]), (f) =>
          frames.push(Buffer.from(f)),
        ),
      ApiProtocolError,
    );
    assert.deepEqual(frames, [get, shutdown]);
  });

  test("a bad header right after a partial frame completes throws", () => {
    const decoder = new FrameDecoder("client");
    const frames: Buffer[] = [];
    decoder.push(put.subarray(0, 10), (f) => frames.push(Buffer.from(f)));
    assert.throws(
      () =>
        decoder.push(Buffer.concat([put.subarray(10), header(5, 654)]), (f) =>
          frames.push(Buffer.from(f)),
        ),
      ApiProtocolError,
    );
    assert.deepEqual(frames, [put]);
  });

  test("garbage input throws ApiProtocolError and never any other error", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 400 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.constantFrom<Sender>("client", "node"),
        (raw, cuts, sender) => {
          const decoder = new FrameDecoder(sender);
          try {
            for (const chunk of split(Buffer.from(raw), cuts)) {
              decoder.push(chunk, (f) => {
                assert.ok(f.length >= 4 && f.readUInt16BE(0) === f.length);
              });
              assert.ok(decoder.buffered <= 65_535);
            }
          } catch (err) {
            assert.ok(err instanceof ApiProtocolError, String(err));
          }
        },
      ),
    );
  });

  test("garbage after valid frames: the valid ones come out intact, then ApiProtocolError", () => {
    fc.assert(
      fc.property(
        fc.array(clientMessage, { maxLength: 5 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }).filter((t) => t !== 650 && t !== 651 && t !== 654),
        fc.array(fc.nat(), { maxLength: 10 }),
        (msgs, size, type, cuts) => {
          const frames = msgs.map(encodeApi);
          const all = Buffer.concat([...frames, header(size, type)]);
          const decoder = new FrameDecoder("client");
          const out: Buffer[] = [];
          assert.throws(() => {
            for (const chunk of split(all, cuts)) {
              decoder.push(chunk, (f) => out.push(Buffer.from(f)));
            }
          }, ApiProtocolError);
          assert.deepEqual(out, frames);
        },
      ),
    );
  });
});

test("a false from onFrame stops decoding and hands back the unread rest", () => {
  const key = Buffer.alloc(32, 7);
  const get = encodeApi({ type: "get", key });
  const three = Buffer.concat([get, get, get.subarray(0, 10)]);
  const decoder = new FrameDecoder("client");
  let seen = 0;
  const rest = decoder.push(three, () => {
    seen++;
    return false;
  });
  assert.equal(seen, 1);
  assert.deepEqual(rest, Buffer.concat([get, get.subarray(0, 10)]));
  assert.equal(decoder.buffered, 0);
  const again = decoder.push(rest!, () => {
    seen++;
    return true;
  });
  assert.equal(again, undefined);
  assert.equal(seen, 2);
  assert.equal(decoder.buffered, 10);
});
