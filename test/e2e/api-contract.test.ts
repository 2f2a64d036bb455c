// The DHT API contract against a spawned `ringdht node` process.

import { after, describe } from "node:test";
import { defineApiContractTests } from "../harness/api-suite.js";
import { cleanupAll } from "../harness/cleanup.js";
import { processTarget } from "../harness/process.js";

const CONFIG = "[dht]\napi_address = 127.0.0.1:0\np2p_address = 127.0.0.1:0\n";

after(cleanupAll);

describe("DHT API contract, spawned node process", () => {
  defineApiContractTests(() => processTarget(CONFIG));
});
