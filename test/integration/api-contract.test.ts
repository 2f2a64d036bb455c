// The DHT API contract against an in-process node over real TCP.

import { describe } from "node:test";
import { defineApiContractTests } from "../harness/api-suite.js";
import { inProcessTarget } from "../harness/in-process.js";

describe("DHT API contract, in-process node", { timeout: 60_000 }, () => {
  defineApiContractTests(() => inProcessTarget());
});
