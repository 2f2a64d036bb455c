// Prints the worked examples of docs/api.md: each message encoded by our own
// codec (dist/src/wire/api.js; run `npm run build` first), as spaced hex, 16
// bytes to a line. test/unit/api-doc.test.ts checks the document against the
// same encoder. Usage: node scripts/api-examples.mjs

import { createHash } from "node:crypto";
import { encodeApi } from "../dist/src/wire/api.js";

const key = createHash("sha256").update("greeting", "utf8").digest();
const value = Buffer.from("hello", "utf8");

export const EXAMPLES = {
  put: { type: "put", ttl: 3600, replication: 4, key, value },
  get: { type: "get", key },
  success: { type: "success", key, value },
  failure: { type: "failure", key },
  shutdown: { type: "shutdown" },
};

for (const [name, msg] of Object.entries(EXAMPLES)) {
  const frame = encodeApi(msg);
  const lines = [];
  for (let i = 0; i < frame.length; i += 16) {
    lines.push(
      [...frame.subarray(i, i + 16)].map((b) => b.toString(16).padStart(2, "0")).join(" "),
    );
  }
  console.log(
    `<!-- example: ${name} (${frame.length} bytes) -->\n\n\`\`\`text\n${lines.join("\n")}\n\`\`\`\n`,
  );
}
