// The DHT API contract against an in-process node over real TCP.

import { after, describe } from "node:test";
import { defineApiContractTests } from "../harness/api-suite.js";
import { cleanupAll } from "../harness/cleanup.js";
import { inProcessTarget } from "../harness/in-process.js";

after(cleanupAll);

describe("DHT API contract, in-process node", () => {
  defineApiContractTests(() => inProcessTarget());
});
