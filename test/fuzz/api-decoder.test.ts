// Fuzz target (a) in the test suite: a few thousand API byte streams (valid,
// mutated and garbage frames, any chunking, reading paused and resumed)
// through FrameDecoder + decodeApi. `npm run fuzz` runs the same property
// hundreds of thousands of times.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { API_MAX_MESSAGE_BYTES } from "../../src/wire/api.js";
import { apiDecoderProperty, newDecoderStats } from "./decoders.js";
import { fuzzParams } from "./params.js";

test("API decoder: any bytes, any chunks: valid messages or ApiProtocolError, bounded buffering", () => {
  const stats = newDecoderStats();
  fc.assert(apiDecoderProperty(stats), fuzzParams(3000));
  assert.ok(stats.valid > 0 && stats.rejected > 0, `stats ${JSON.stringify(stats)}`);
  assert.ok(stats.maxBuffered <= API_MAX_MESSAGE_BYTES);
});
