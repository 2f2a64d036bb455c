// `ringdht node`: configuration from flags, RINGDHT_<KEY> variables and an
// INI file (config/sources.ts), then a node in the foreground until SIGINT,
// SIGTERM or DHT SHUTDOWN, exit status 0. A busy port is exit status 4.

import { type Command, Option } from "commander";
import { type Config, loadConfig } from "../config/config.js";
import { NODE_FLAGS, type SettableKey } from "../config/sources.js";
import { createLogger } from "../log.js";
import { RingDhtNode } from "../node.js";
import { DataDirError } from "../persist/data-dir-error.js";
import { addressInUse, CliFailure, portBusy } from "./failures.js";

interface FlagOption {
  option: Option;
  key: SettableKey;
}

/** Adds `ringdht node` with a flag per configuration key. */
export function addNodeCommand(cli: Command): Command {
  const cmd = cli
    .command("node")
    .description("run a DHT node in the foreground (logs to stderr)")
    .option("-c, --config <file>", "INI configuration file (default: the embedded defaults)");
  const flags: FlagOption[] = NODE_FLAGS.map((f) => {
    const names = `${f.short === undefined ? "" : `-${f.short}, `}--${f.flag}`;
    const option =
      f.value === ""
        ? new Option(`${names} [true|false]`, f.help)
        : new Option(`${names} <${f.value}>`, f.help);
    if (f.repeatable === true) {
      option.argParser((v: string, previous: string | undefined) =>
        previous === undefined ? v : `${previous},${v}`,
      );
    }
    cmd.addOption(option);
    return { option, key: f.key };
  });
  cmd.addHelpText(
    "after",
    "\nEvery flag has a RINGDHT_<KEY> environment variable (e.g. RINGDHT_API_ADDRESS).\nPrecedence: flags, then environment, then the -c file, then the defaults.",
  );
  return cmd.action(async (opts: { config?: string }) => {
    const values: Partial<Record<SettableKey, string>> = {};
    for (const { option, key } of flags) {
      const v: unknown = cmd.getOptionValue(option.attributeName());
      if (v !== undefined) values[key] = String(v);
    }
    await runNode(opts.config, values);
  });
}

async function runNode(
  file: string | undefined,
  flags: Partial<Record<SettableKey, string>>,
): Promise<void> {
  const { config, warnings } = loadConfig({
    ...(file === undefined ? {} : { file }),
    env: process.env,
    flags,
  });
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  for (const w of warnings) log.warn(w);
  // A signal while still joining ends the process at once: nothing is held
  // yet. Later ones stop the node once; repeats (npm forwards the terminal's
  // SIGINT to its child, which already got it) are ignored.
  let node: RingDhtNode | undefined;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (node === undefined) {
      log.info({ reason: signal }, "stopped before joining");
      process.exit(0);
    }
    if (stopping) return;
    stopping = true;
    void node.stop(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    node = await RingDhtNode.start(config, { log, processMetrics: true });
  } catch (err) {
    const busy = addressInUse(err);
    if (busy !== undefined) throw portBusy(busy, listeners(config));
    // An unusable data_dir is a configuration problem.
    if (err instanceof DataDirError) throw new CliFailure(err.message, 2);
    throw new CliFailure(`cannot start the node: ${(err as Error).message}`, 1);
  }
  await node.closed;
  process.exit(0);
}

/** The addresses a node binds, by configuration key. */
function listeners(config: Config): [string, Config["httpAddress"]][] {
  return [
    ["api_address", config.apiAddress],
    ["p2p_address", config.p2pAddress],
    ["http_address", config.httpAddress],
  ];
}
