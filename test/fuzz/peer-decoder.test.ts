// Fuzz target (b) in the test suite: a few thousand peer byte streams (valid
// frames, near-schema MessagePack bodies of every RPC, MessagePack-like bytes,
// byte-level damage, any chunking) through PeerFrameDecoder + decodePayload +
// checkReply. `npm run fuzz` runs the same property hundreds of thousands of times.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { PEER_FRAME_HEADER_BYTES, PEER_MAX_PAYLOAD_BYTES } from "../../src/wire/peer.js";
import { newDecoderStats, peerDecoderProperty } from "./decoders.js";
import { fuzzParams } from "./params.js";

test("peer decoder: any bytes, any chunks: valid messages or PeerProtocolError, bounded buffering", () => {
  const stats = newDecoderStats();
  fc.assert(peerDecoderProperty(stats), fuzzParams(3000));
  assert.ok(stats.valid > 0 && stats.rejected > 0, `stats ${JSON.stringify(stats)}`);
  assert.ok(stats.maxBuffered < PEER_FRAME_HEADER_BYTES + PEER_MAX_PAYLOAD_BYTES);
});
