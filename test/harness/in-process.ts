// An in-process node for integration tests: real TCP on a port the OS picks,
// a silent logger, and a configuration given as INI text.

import { parseConfig } from "../../src/config/config.js";
import { silentLogger } from "../../src/log.js";
import { type NodeDeps, RingDhtNode } from "../../src/node.js";
import { onCleanup } from "./cleanup.js";
import type { ApiTarget } from "./target.js";

/** A [dht] section on loopback with OS-picked ports, plus extra `key = value` lines. */
export function loopbackConfig(...extraLines: string[]): string {
  return [
    "[dht]",
    "api_address = 127.0.0.1:0",
    "p2p_address = 127.0.0.1:0",
    // The admin endpoint off unless asked for: its default port would clash.
    ...(extraLines.some((l) => /^\s*http_address\s*=/.test(l)) ? [] : ["http_address ="]),
    ...extraLines,
    "",
  ].join("\n");
}

/**
 * Starts a node in this process from INI text (silent unless `deps` gives a
 * logger); resolves once its API listens. Stopped at cleanupAll().
 */
export async function startInProcessNode(
  configText = loopbackConfig(),
  deps: Partial<NodeDeps> = {},
): Promise<RingDhtNode> {
  const { config } = parseConfig(configText, "(test config)");
  const node = await RingDhtNode.start(config, { log: silentLogger(), ...deps });
  onCleanup(() => node.stop("test cleanup"));
  return node;
}

/** An in-process node as a target of the shared API suite. */
export async function inProcessTarget(configText = loopbackConfig()): Promise<ApiTarget> {
  const node = await startInProcessNode(configText);
  return {
    host: node.apiAddress.host,
    port: node.apiAddress.port,
    stop: () => node.stop("test teardown"),
  };
}
