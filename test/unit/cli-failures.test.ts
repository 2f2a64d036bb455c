// The CLI's small decisions, without processes: which errors are a busy port
// and how it is named, which KEYs are refused, what `get` writes, and how many
// descriptors a testnet needs.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import { addressInUse, EXIT_PORT_BUSY, portBusy, usageHint } from "../../src/cli/failures.js";
import {
  openFileLimit,
  outOfDescriptors,
  TESTNET_FD_RESERVE,
  TESTNET_FDS_PER_NODE,
  testnetDescriptors,
  testnetNodesWithin,
} from "../../src/cli/fd-limit.js";
import { KeyError, keyFromArg } from "../../src/cli/key.js";
import { valueOutput } from "../../src/cli/output.js";

/** The error a listener gives on a port that is taken. */
async function realBusyError(): Promise<Error> {
  const first = createServer();
  await new Promise<void>((resolve) => first.listen(0, "127.0.0.1", resolve));
  const port = (first.address() as { port: number }).port;
  const second = createServer();
  const err = await new Promise<Error>((resolve) => {
    second.once("error", resolve);
    second.listen(port, "127.0.0.1");
  });
  await new Promise<void>((resolve) => first.close(() => resolve()));
  return err;
}

describe("busy ports", () => {
  test("a listener's EADDRINUSE, bare or wrapped as a cause, gives its address", async () => {
    const err = await realBusyError();
    const port = (err as unknown as { port: number }).port;
    assert.deepEqual(addressInUse(err), { host: "127.0.0.1", port });
    const wrapped = new Error("cannot listen for peers", { cause: err });
    assert.deepEqual(addressInUse(new Error("outer", { cause: wrapped })), {
      host: "127.0.0.1",
      port,
    });
  });

  test("other errors are not a busy port", () => {
    assert.equal(addressInUse(new Error("EADDRINUSE in the text only")), undefined);
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    assert.equal(addressInUse(refused), undefined);
    assert.equal(addressInUse("EADDRINUSE"), undefined);
    assert.equal(addressInUse(undefined), undefined);
  });

  test("the message names the key bound there, exit status 4", () => {
    const api = { host: "127.0.0.1", port: 7401 };
    const p2p = { host: "127.0.0.1", port: 6501 };
    const candidates = [
      ["api_address", api],
      ["p2p_address", p2p],
      ["http_address", undefined],
    ] as const;
    const f = portBusy(api, candidates);
    assert.equal(f.message, "127.0.0.1:7401 (api_address) is already in use");
    assert.equal(f.exitCode, EXIT_PORT_BUSY);
    assert.equal(EXIT_PORT_BUSY, 4);
    assert.equal(
      portBusy(p2p, candidates).message,
      "127.0.0.1:6501 (p2p_address) is already in use",
    );
    // "localhost:6501" in the configuration, 127.0.0.1 in the error: the port decides.
    assert.equal(
      portBusy(p2p, [["p2p_address", { host: "localhost", port: 6501 }]]).message,
      "127.0.0.1:6501 (p2p_address) is already in use",
    );
    assert.equal(
      portBusy({ host: "::1", port: 9 }, candidates).message,
      "[::1]:9 is already in use",
    );
  });

  test("the usage hint names the command", () => {
    assert.equal(usageHint("get"), 'Run "ringdht get --help" for usage.');
    assert.equal(usageHint(undefined), 'Run "ringdht --help" for usage.');
  });
});

describe("KEY arguments", () => {
  const hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

  test("0x and 64 hex digits is the raw key", () => {
    assert.deepEqual(keyFromArg(`0x${hex}`), Buffer.from(hex, "hex"));
    assert.deepEqual(keyFromArg(`0x${hex.toUpperCase()}`), Buffer.from(hex, "hex"));
  });

  test("anything else starting with 0x is refused, not hashed", () => {
    for (const bad of ["0x", "0x1234", `0x${hex}00`, `0x${hex.slice(1)}`, `0x${hex.slice(2)}zz`]) {
      assert.throws(() => keyFromArg(bad), KeyError, bad);
    }
    assert.throws(() => keyFromArg("0x1234"), /malformed raw KEY "0x1234".*64 hex digits/);
  });

  test("other text is hashed with SHA-256", () => {
    for (const text of ["greeting", "0", "x0", " 0x1234", "0X1234"]) {
      assert.deepEqual(keyFromArg(text), createHash("sha256").update(text, "utf8").digest());
    }
  });
});

describe("what get writes", () => {
  const value = Buffer.from([0x68, 0x69, 0x00, 0xff]);

  test("piped: exactly the value's bytes", () => {
    assert.deepEqual(valueOutput(value, false, false), value);
  });

  test("on a terminal: the value and a newline", () => {
    assert.deepEqual(valueOutput(value, false, true), Buffer.concat([value, Buffer.from("\n")]));
  });

  test("--hex: hex and a newline, terminal or not", () => {
    for (const terminal of [false, true]) {
      assert.equal(valueOutput(value, true, terminal).toString(), "6869" + "00ff\n");
    }
  });
});

describe("file descriptors for a testnet", () => {
  const limits = (soft: string, hard = soft) =>
    [
      "Limit                     Soft Limit           Hard Limit           Units     ",
      "Max processes             95138                95138                processes ",
      `Max open files            ${soft.padEnd(21)}${hard.padEnd(21)}files     `,
      "Max locked memory         8388608              8388608              bytes     ",
    ].join("\n");

  test("the soft limit on open files is read from /proc/self/limits", () => {
    assert.equal(openFileLimit(limits("1024", "4096")), 1024);
    assert.equal(openFileLimit(limits("unlimited")), undefined);
    assert.equal(openFileLimit("Max processes 10 10 processes"), undefined);
  });

  test("two per node and the reserve: what fits is what is asked", () => {
    assert.equal(testnetDescriptors(2000), 2000 * TESTNET_FDS_PER_NODE + TESTNET_FD_RESERVE);
    assert.equal(testnetNodesWithin(1024), 480);
    assert.equal(testnetNodesWithin(20_000), 9968);
    assert.equal(testnetNodesWithin(10), 0);
    for (const n of [1, 479, 480, 2000])
      assert.equal(testnetNodesWithin(testnetDescriptors(n)), n, `${n} nodes`);
  });

  test("EMFILE is found bare or as a cause; other errors are not", () => {
    const emfile = Object.assign(new Error("listen EMFILE"), { code: "EMFILE" });
    assert.ok(outOfDescriptors(emfile));
    assert.ok(
      outOfDescriptors(new Error("start", { cause: new Error("bind", { cause: emfile }) })),
    );
    assert.ok(!outOfDescriptors(Object.assign(new Error("EMFILE"), { code: "ENFILE2" })));
    assert.ok(!outOfDescriptors("EMFILE"));
  });
});
