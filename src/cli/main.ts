#!/usr/bin/env node
// The `ringdht` command: run a node, or talk to one over the DHT API.
// Exit status: 0 done; 1 not found / not kept; 2 bad usage or configuration;
// 3 the node could not be reached.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ApiClient } from "../client/api-client.js";
import { ConfigError, defaultConfig, loadConfigFile } from "../config/config.js";
import { DEFAULTS } from "../config/defaults.js";
import { createLogger, logOptionsFromEnv } from "../log.js";
import { type Address, formatAddress, parseAddress } from "../net/address.js";
import { RingDhtNode } from "../node.js";
import { DataDirError } from "../persist/data-dir-error.js";
import { startTestnet } from "../testnet.js";
import { API_MAX_VALUE_BYTES } from "../wire/api.js";
import { keyFromArg } from "./key.js";
import { parseDuration, TestnetView, totalsOf } from "./testnet-view.js";

const { version } = createRequire(import.meta.url)("../../../package.json") as { version: string };

class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function intIn(min: number, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
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
    throw new CliFailure("no VALUE: give one, --file PATH, or pipe it to stdin", 2);
  else {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    bytes = Buffer.concat(chunks);
  }
  if (bytes.length < 1 || bytes.length > API_MAX_VALUE_BYTES) {
    throw new CliFailure(
      `a value must be 1 to ${API_MAX_VALUE_BYTES} bytes, got ${bytes.length}`,
      2,
    );
  }
  return bytes;
}

async function runNode(opts: { config?: string }): Promise<void> {
  const { config, warnings } =
    opts.config === undefined
      ? { config: defaultConfig(), warnings: [] }
      : loadConfigFile(opts.config);
  const log = createLogger(logOptionsFromEnv({ level: config.logLevel, format: config.logFormat }));
  for (const w of warnings) log.warn(w);
  // A signal while still joining ends the process at once: nothing is held yet.
  let node: RingDhtNode | undefined;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      if (node === undefined) {
        log.info({ reason: signal }, "stopped before joining");
        process.exit(0);
      }
      void node.stop(signal);
    });
  }
  try {
    node = await RingDhtNode.start(config, { log });
  } catch (err) {
    // An unusable data_dir is a configuration problem.
    if (err instanceof DataDirError) throw new CliFailure((err as Error).message, 2);
    throw new CliFailure(`cannot start the node: ${(err as Error).message}`, 1);
  }
  await node.closed;
  process.exit(0);
}

async function runTestnet(o: {
  nodes: number;
  p2pPort: number;
  apiPort: number;
  host: string;
  overTcp?: boolean;
  summaryEvery: number;
}): Promise<void> {
  const log = createLogger(logOptionsFromEnv({ level: "warn", format: "auto" }));
  const started = Date.now();
  // Progress, summaries and the final summary on stderr (cli/testnet-view.ts).
  const view = new TestnetView(o.nodes);
  const live: RingDhtNode[] = [];
  // Ctrl-C while the ring still forms stops it too, with the final summary.
  const stopped = new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  const forming = startTestnet(
    {
      nodes: o.nodes,
      host: o.host,
      p2pBasePort: o.p2pPort,
      apiBasePort: o.apiPort,
      overTcp: o.overTcp === true,
    },
    log,
    (node, i) => {
      live[i] = node;
      view.print(
        `node ${i}: api ${formatAddress(node.apiAddress)}  p2p ${node.p2pAddress}  id ${node.chord.self.id.slice(0, 16)}`,
      );
      view.joinedOne();
    },
  ).then((nodes) => {
    view.print(
      `${nodes.length} nodes in one ring after ${Date.now() - started} ms; try: ringdht put hello world --api ${formatAddress(nodes[0]!.apiAddress)}`,
    );
    view.print("Ctrl-C stops them all.");
    view.formed(() => totalsOf(nodes), o.summaryEvery);
  });
  let reason: string;
  try {
    reason = await Promise.race([stopped, forming.then(() => stopped)]);
  } catch (err) {
    view.close(); // the ring could not form: the error follows, not a summary
    throw err;
  }
  process.stderr.write(`${view.final(totalsOf(live), reason)}\n`);
  await Promise.all(live.filter((n) => n !== undefined).map((n) => n.crash()));
  process.exit(0);
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
    .showHelpAfterError()
    .exitOverride();
  cli
    .command("node")
    .description("run a DHT node in the foreground (logs to stderr)")
    .option("-c, --config <file>", "INI configuration file (default: the embedded defaults)")
    .action(runNode);
  apiOption(
    cli
      .command("put")
      .description("store VALUE under KEY (KEY: text, hashed with SHA-256; or 0x + 64 hex digits)")
      .argument("<key>")
      .argument("[value]", "the value as text; '-' or none reads stdin")
      .option("-f, --file <path>", "read the value from a file")
      .option("--ttl <seconds>", "how long to keep it; 0: the node's default", intIn(0, 65_535), 0)
      .option("--replication <n>", "copies wanted; 0: the node's default", intIn(0, 255), 0),
  ).action(async (key: string, value: string | undefined, o: PutOpts) => {
    const bytes = await readValue(value, o.file);
    const kept = await withClient(o.api, async (c) => {
      c.put(keyFromArg(key), bytes, o.ttl, o.replication);
      return c.get(keyFromArg(key));
    });
    if (kept === undefined)
      throw new CliFailure("the node did not keep the value (store full?)", 1);
  });
  apiOption(
    cli
      .command("get")
      .description("print the value under KEY; exit status 1 when there is none")
      .argument("<key>")
      .option("--hex", "print the value as hex"),
  ).action(async (key: string, o: { api: Address; hex?: boolean }) => {
    const value = await withClient(o.api, (c) => c.get(keyFromArg(key)));
    if (value === undefined) throw new CliFailure("not found", 1);
    process.stdout.write(o.hex ? value.toString("hex") : value);
    if (o.hex || process.stdout.isTTY) process.stdout.write("\n");
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
    .addOption(
      new Option(
        "--summary-every <duration>",
        "a summary line on stderr this often once the ring formed (e.g. 5s, 500ms; 0: none)",
      )
        .argParser(durationArg)
        .default(5000, "5s"),
    )
    .action(runTestnet);
  apiOption(
    cli.command("shutdown").description("ask a node to leave the network gracefully and exit"),
  ).action(async (o: { api: Address }) => {
    await withClient(o.api, (c) => c.shutdown());
  });
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
      process.stderr.write(`ringdht: ${err.message}\n`);
      return err.exitCode;
    }
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      process.stderr.write(`ringdht: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv);
