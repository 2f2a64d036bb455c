// The simulation tier: a manual clock, seeded randomness and an in-memory
// peer network that runs every message through the real peer codec.

export { type LatencyRange, LinkPolicy } from "./links.js";
export { drainMicrotasks, ManualClock } from "./manual-clock.js";
export {
  DEFAULT_LATENCY_MS,
  type SimEndpoint,
  SimNetwork,
  type SimNetworkDeps,
  type SimNetworkOptions,
  type SimNetworkStats,
} from "./network.js";
export { PausableClock } from "./pausable-clock.js";
export {
  forkRandom,
  pick,
  type Random,
  randomInt,
  seededBytes,
  seededRandom,
  shuffle,
} from "./random.js";
export { type SimReply, SimTransport, type SimWire } from "./transport.js";
