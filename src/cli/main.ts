#!/usr/bin/env node
// The `ringdht` command: run a node, or talk to one over the DHT API.
// Exit status: 0 done; 1 not found / not kept; 2 bad usage or configuration;
// 3 the node could not be reached; 4 a port is busy (failures.ts).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ApiClient } from "../client/api-client.js";
import { ConfigError } from "../config/config.js";
import { DEFAULTS } from "../config/defaults.js";
import { createLogger, logOptionsFromEnv } from "../log.js";
import { type Address, formatAddress, parseAddress } from "../net/address.js";
import type { RingDhtNode } from "../node.js";
import { settleTestnet, startTestnet, tightenHeap } from "../testnet.js";
import { startTestnetAdmin } from "../testnet-admin.js";
import { API_MAX_VALUE_BYTES } from "../wire/api.js";
import { AdminCliError, addAdminCommands } from "./admin-commands.js";
import {
  addressInUse,
  CliFailure,
  EXIT_PORT_BUSY,
  EXIT_USAGE,
  portBusy,
  usageHint,
} from "./failures.js";
import {
  openFileLimit,
  outOfDescriptors,
  TESTNET_FD_RESERVE,
  TESTNET_FDS_PER_NODE,
  testnetDescriptors,
  testnetNodesWithin,
} from "./fd-limit.js";
import { KeyError, keyFromArg } from "./key.js";
import { addNodeCommand } from "./node-command.js";
import { valueOutput } from "./output.js";
import { parseDuration, TestnetView, totalsOf } from "./testnet-view.js";

/**
 * How to give a process more descriptors: Node already raised its soft limit to
 * the hard one, so only a higher hard limit helps.
 */
const RAISE_LIMIT = (n?: number) =>
  n === undefined
    ? "raise the hard limit on open files (ulimit -Hn where permitted, LimitNOFILE= for a systemd unit, docker run --ulimit nofile=N)"
    : `raise the hard limit on open files to ${n} (ulimit -Hn where permitted, LimitNOFILE= for a systemd unit, docker run --ulimit nofile=${n})`;

/** How long `testnet` waits, after the last join, for every successor and predecessor to be right. */
const SETTLE_TIMEOUT_MS = 120_000;

const { version } = createRequire(import.meta.url)("../../../package.json") as { version: string };

function intIn(min: number, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

function keyArg(text: string): Buffer {
  try {
    return keyFromArg(text);
  } catch (err) {
    if (err instanceof KeyError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

function addressArg(text: string): Address {
  const a = parseAddress(text);
  if (a === undefined) throw new InvalidArgumentError("expected host:port (IPv6 as [host]:port)");
  return a;
}

const apiOption = (cmd: Command): Command =>
  cmd.addOption(
    new Option("--api <host:port>", "the node's API address")
      .argParser(addressArg)
      .default(parseAddress(DEFAULTS.api_address), DEFAULTS.api_address),
  );

async function withClient<T>(api: Address, fn: (c: ApiClient) => Promise<T>): Promise<T> {
  let client: ApiClient;
  try {
    client = await ApiClient.connect(api.host, api.port);
  } catch (err) {
    throw new CliFailure(
      `cannot reach the node at ${formatAddress(api)}: ${(err as Error).message}`,
      3,
    );
  }
  try {
    return await fn(client);
  } catch (err) {
    throw new CliFailure(`lost the node at ${formatAddress(api)}: ${(err as Error).message}`, 3);
  } finally {
    client.close();
  }
}

async function readValue(value: string | undefined, file: string | undefined): Promise<Buffer> {
  let bytes: Buffer;
  if (file !== undefined) bytes = readFileSync(file);
  else if (value !== undefined && value !== "-") bytes = Buffer.from(value, "utf8");
  else if (process.stdin.isTTY)
    throw new CliFailure("no VALUE: give one, --file PATH, or pipe it to stdin", 2, "put");
  else {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    bytes = Buffer.concat(chunks);
  }
  if (bytes.length < 1 || bytes.length > API_MAX_VALUE_BYTES) {
    throw new CliFailure(
      `a value must be 1 to ${API_MAX_VALUE_BYTES} bytes, got ${bytes.length}`,
      2,
      "put",
    );
  }
  return bytes;
}

async function runTestnet(o: {
  nodes: number;
  p2pPort: number;
  apiPort: number;
  host: string;
  overTcp?: boolean;
  http?: Address;
  summaryEvery: number;
}): Promise<void> {
  // In memory a node holds exactly its two listeners; over TCP its peer connections vary.
  const limit = o.overTcp === true ? undefined : openFileLimit();
  if (limit !== undefined && o.nodes > testnetNodesWithin(limit)) {
    throw new CliFailure(
      `${o.nodes} nodes need at least ${testnetDescriptors(o.nodes)} file descriptors (${TESTNET_FDS_PER_NODE} per node, its API and P2P listeners, and ${TESTNET_FD_RESERVE} for the process and API clients), but this process may open ${limit}: ${RAISE_LIMIT(testnetDescriptors(o.nodes))}, or run at most ${testnetNodesWithin(limit)} nodes`,
      EXIT_USAGE,
    );
  }
  const log = createLogger(logOptionsFromEnv({ level: "warn", format: "auto" }));
  const started = Date.now();
  // Progress, summaries and the final summary on stderr (cli/testnet-view.ts).
  const view = new TestnetView(o.nodes);
  const live: RingDhtNode[] = [];
  const admin = o.http === undefined ? undefined : await startTestnetAdmin(() => live, o.http, log);
  if (admin !== undefined)
    view.print(`ring page and admin endpoint: http://${formatAddress(admin.address)}/`);
  // Ctrl-C while the ring still forms stops it too, with the final summary. On, not
  // once: npm forwards a terminal's SIGINT that the process already got.
  const stopped = new Promise<string>((resolve) => {
    process.on("SIGINT", () => resolve("SIGINT"));
    process.on("SIGTERM", () => resolve("SIGTERM"));
  });
  const forming = testnetOrBusy(o, () =>
    startTestnet(
      {
        nodes: o.nodes,
        host: o.host,
        p2pBasePort: o.p2pPort,
        apiBasePort: o.apiPort,
        overTcp: o.overTcp === true,
        metrics: o.http !== undefined,
      },
      log,
      (node, i) => {
        live[i] = node;
        view.print(
          `node ${i}: api ${formatAddress(node.apiAddress)}  p2p ${node.p2pAddress}  id ${node.chord.self.id.slice(0, 16)}`,
        );
        view.joinedOne();
      },
    ),
  ).then(async (nodes) => {
    const joinedMs = Date.now() - started;
    // "In one ring" means every successor and predecessor is right, not just every join done.
    const misplaced = await settleTestnet(nodes, SETTLE_TIMEOUT_MS);
    tightenHeap(); // formed: from now on the heap stays near what is live (testnet.ts)
    const ringLine = () =>
      view.print(
        `${nodes.length} nodes in one ring after ${Date.now() - started} ms (all joined after ${joinedMs} ms, every successor and predecessor right); try: ringdht put hello world --api ${formatAddress(nodes[0]!.apiAddress)}`,
      );
    if (misplaced === 0) ringLine();
    else {
      view.print(
        `${nodes.length} nodes joined after ${joinedMs} ms, but ${misplaced} still have a wrong successor or predecessor after ${Date.now() - started} ms; the ring line follows once the ring has repaired itself`,
      );
      void settleTestnet(nodes, Number.POSITIVE_INFINITY).then(ringLine);
    }
    view.print("Ctrl-C stops them all.");
    view.formed(() => totalsOf(nodes), o.summaryEvery);
  });
  let reason: string;
  try {
    reason = await Promise.race([stopped, forming.then(() => stopped)]);
  } catch (err) {
    view.close(); // the ring could not form: the error follows, not a summary
    await admin?.close();
    throw err;
  }
  process.stderr.write(`${view.final(totalsOf(live), reason)}\n`);
  await admin?.close();
  await Promise.all(live.filter((n) => n !== undefined).map((n) => n.crash()));
  process.exit(0);
}

/** A busy testnet port becomes exit status 4, named by its node. */
async function testnetOrBusy<T>(
  o: { nodes: number; p2pPort: number; apiPort: number; host: string },
  start: () => Promise<T>,
): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if (outOfDescriptors(err)) {
      const limit = openFileLimit();
      throw new CliFailure(
        `ran out of file descriptors (EMFILE) while the ${o.nodes} nodes started${limit === undefined ? "" : `; this process may open ${limit}`}: ${RAISE_LIMIT()}, or run fewer nodes`,
        EXIT_USAGE,
      );
    }
    const busy = addressInUse(err);
    if (busy === undefined) throw err;
    const ports = (kind: string, first: number) =>
      first === 0
        ? []
        : Array.from(
            { length: o.nodes },
            (_, i) => [`${kind} of testnet node ${i}`, { host: o.host, port: first + i }] as const,
          );
    throw portBusy(busy, [...ports("API port", o.apiPort), ...ports("P2P port", o.p2pPort)]);
  }
}

function durationArg(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new InvalidArgumentError("expected a duration such as 5s or 500ms");
  return ms;
}

function program(): Command {
  const cli = new Command("ringdht")
    .description("A Chord DHT node and its client")
    .version(version)
    .showHelpAfterError(usageHint(undefined))
    .configureOutput({
      // One line per usage error, as every other failure: "ringdht: ...".
      outputError: (text, write) => write(text.replace(/^error: /, "ringdht: ")),
    })
    .exitOverride();
  addNodeCommand(cli);
  apiOption(
    cli
      .command("put")
      .description("store VALUE under KEY (KEY: text, hashed with SHA-256; or 0x + 64 hex digits)")
      .argument("<key>", "text, or 0x and 64 hex digits", keyArg)
      .argument("[value]", "the value as text; '-' or none reads stdin")
      .option("-f, --file <path>", "read the value from a file")
      .option("--ttl <seconds>", "how long to keep it; 0: the node's default", intIn(0, 65_535), 0)
      .option("--replication <n>", "copies wanted; 0: the node's default", intIn(0, 255), 0),
  ).action(async (key: Buffer, value: string | undefined, o: PutOpts) => {
    const bytes = await readValue(value, o.file);
    const kept = await withClient(o.api, async (c) => {
      c.put(key, bytes, o.ttl, o.replication);
      return c.get(key);
    });
    if (kept === undefined)
      throw new CliFailure("the node did not keep the value (store full?)", 1);
  });
  apiOption(
    cli
      .command("get")
      .description("print the value under KEY; exit status 1 when there is none")
      .argument("<key>", "text, or 0x and 64 hex digits", keyArg)
      .option("--hex", "print the value as hex"),
  ).action(async (key: Buffer, o: { api: Address; hex?: boolean }) => {
    const value = await withClient(o.api, (c) => c.get(key));
    if (value === undefined) throw new CliFailure("not found", 1);
    process.stdout.write(valueOutput(value, o.hex === true, process.stdout.isTTY === true));
  });
  cli
    .command("testnet")
    .description("run N nodes in this process on loopback, one ring, until Ctrl-C")
    .option("-n, --nodes <n>", "how many nodes", intIn(1, 10_000), 10)
    .option(
      "--p2p-port <port>",
      "first P2P port (the others follow; 0: any free ones)",
      intIn(0, 65_535),
      6600,
    )
    .option(
      "--api-port <port>",
      "first API port (the others follow; 0: any free ones)",
      intIn(0, 65_535),
      7600,
    )
    .option("--host <ip>", "loopback address to bind", "127.0.0.1")
    .option(
      "--over-tcp",
      "the nodes talk over loopback TCP, as separate hosts would (default: in memory)",
    )
    .option(
      "--http <host:port>",
      "serve one admin endpoint and ring page for all the nodes (default: none)",
      addressArg,
    )
    .addOption(
      new Option(
        "--summary-every <duration>",
        "a summary line on stderr this often once the ring formed (e.g. 5s, 500ms; 0: none)",
      )
        .argParser(durationArg)
        .default(5000, "5s"),
    )
    .action(runTestnet);
  addAdminCommands(cli);
  apiOption(
    cli.command("shutdown").description("ask a node to leave the network gracefully and exit"),
  ).action(async (o: { api: Address }) => {
    await withClient(o.api, (c) => c.shutdown());
  });
  for (const cmd of cli.commands) cmd.showHelpAfterError(usageHint(cmd.name()));
  return cli;
}

interface PutOpts {
  api: Address;
  file?: string;
  ttl: number;
  replication: number;
}

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof ConfigError) {
      process.stderr.write(`ringdht: ${err.message}\n`);
      return 2;
    }
    if (err instanceof CliFailure) {
      const hint = err.usageOf === undefined ? "" : `${usageHint(err.usageOf)}\n`;
      process.stderr.write(`ringdht: ${err.message}\n${hint}`);
      return err.exitCode;
    }
    if (err instanceof AdminCliError) {
      process.stderr.write(`ringdht: ${err.message}\n`);
      return err.exitCode;
    }
    const busy = addressInUse(err);
    if (busy !== undefined) {
      process.stderr.write(`ringdht: ${portBusy(busy, []).message}\n`);
      return EXIT_PORT_BUSY;
    }
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      process.stderr.write(`ringdht: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv);
