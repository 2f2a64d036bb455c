// The deployment files, checked as far as this machine can (no container
// engine here): compose.yaml parses and runs five nodes that bootstrap into
// one ring, each with an IP-literal P2P address it owns on the compose
// network (peers know a node by the IP its connections come from); the
// Dockerfile builds on node:20-slim in two stages and runs as a non-root user;
// the systemd unit passes `systemd-analyze verify` where that exists and has
// the keys the README promises; examples/node.ini is a valid configuration.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { parseConfig } from "../../src/config/config.js";
import { parseAddress } from "../../src/net/address.js";
import { CLI_PATH, tempDir } from "../harness/process.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

interface Service {
  build?: unknown;
  image?: string;
  environment?: Record<string, string>;
  networks?: Record<string, { ipv4_address?: string }>;
  ports?: string[];
  volumes?: string[];
  depends_on?: string[];
}

/** Whether IPv4 `ip` lies in `cidr` ("a.b.c.d/n"). */
function inSubnet(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split("/") as [string, string];
  const n = (a: string) => a.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(n(ip) / size) === Math.floor(n(base) / size);
}

test("compose.yaml: five nodes, IP-literal P2P addresses on the ring network, one ring", () => {
  const doc = parse(read("compose.yaml"), { merge: true }) as {
    services: Record<string, Service>;
    networks: Record<string, { ipam: { config: { subnet: string }[] } }>;
  };
  const services = Object.entries(doc.services);
  assert.equal(services.length, 5);
  const p2p = new Map<string, string>();
  for (const [name, s] of services) {
    assert.ok(s.build !== undefined || s.image !== undefined, `${name} has an image`);
    const env = s.environment ?? {};
    const addr = parseAddress(env.RINGDHT_P2P_ADDRESS ?? "");
    assert.ok(addr !== undefined, `${name}: RINGDHT_P2P_ADDRESS is host:port`);
    assert.ok(isIP(addr.host) !== 0, `${name}: the P2P address is an IP, its identity`);
    const [net, where] = Object.entries(s.networks ?? {})[0] ?? [];
    assert.equal(where?.ipv4_address, addr.host, `${name} owns its P2P address`);
    const subnet = doc.networks[net!]?.ipam.config[0]?.subnet ?? "";
    assert.ok(inSubnet(addr.host, subnet), `${name}: ${addr.host} in ${subnet}`);
    assert.ok(
      (s.volumes ?? []).some((v) => v.endsWith(":/var/lib/ringdht")),
      `${name} keeps its records in a volume`,
    );
    p2p.set(name, env.RINGDHT_P2P_ADDRESS!);
  }
  assert.equal(new Set(p2p.values()).size, 5, "distinct identities");
  const firsts = services.filter(([, s]) => s.environment?.RINGDHT_BOOTSTRAPPER === undefined);
  assert.deepEqual(
    firsts.map(([n]) => n),
    ["node1"],
    "one node starts the network",
  );
  for (const [name, s] of services.filter(([n]) => n !== "node1")) {
    assert.equal(s.environment?.RINGDHT_BOOTSTRAPPER, p2p.get("node1"), `${name} joins node1`);
    assert.deepEqual(s.depends_on, ["node1"]);
  }
  const hostPorts = services.flatMap(([, s]) => (s.ports ?? []).map((p) => p.split(":")[1]));
  assert.equal(new Set(hostPorts).size, hostPorts.length, "no host port published twice");
});

test("Dockerfile: node:20-slim, build stage then a runtime stage, non-root, ports exposed", () => {
  const lines = read("Dockerfile")
    .split("\n")
    .filter((l) => !l.startsWith("#"));
  const froms = lines.filter((l) => l.startsWith("FROM "));
  assert.deepEqual(froms, ["FROM node:20-slim AS build", "FROM node:20-slim"]);
  const runtime = lines.slice(lines.indexOf(froms[1]!));
  assert.ok(
    runtime.some((l) => /^COPY --from=build \S+\.tgz /.test(l)),
    "the runtime stage takes only the packed tarball from the build",
  );
  assert.ok(
    runtime.some((l) => l.includes("--omit=dev")),
    "production dependencies only",
  );
  const user = runtime.filter((l) => l.startsWith("USER ")).pop();
  assert.ok(user !== undefined && !/root|\b0\b/.test(user), `runs as ${user}`);
  const exposed =
    lines
      .find((l) => l.startsWith("EXPOSE "))
      ?.split(/\s+/)
      .slice(1) ?? [];
  assert.deepEqual(exposed.sort(), ["6501", "7401", "7480"]);
});

test("systemd unit: verified where systemd-analyze exists; the promised keys are there", () => {
  const unit = read("examples/ringdht.service");
  const keys = new Map<string, string>();
  let section = "";
  for (const line of unit.split("\n")) {
    const head = /^\[(\w+)\]$/.exec(line);
    if (head !== null) section = head[1]!;
    const kv = /^(\w+)=(.*)$/.exec(line);
    if (kv !== null) keys.set(`${section}.${kv[1]}`, kv[2]!);
  }
  assert.match(keys.get("Service.ExecStart") ?? "", /ringdht node -c \/etc\/ringdht\/node\.ini$/);
  assert.equal(keys.get("Service.DynamicUser"), "yes");
  assert.equal(keys.get("Service.StateDirectory"), "ringdht");
  assert.equal(keys.get("Service.Restart"), "on-failure");
  assert.equal(keys.get("Install.WantedBy"), "multi-user.target");

  const which = spawnSync("sh", ["-c", "command -v systemd-analyze"], { encoding: "utf8" });
  if (which.status !== 0) return; // no systemd here: the key checks above are what we can do
  // verify wants ExecStart's program to exist: point it at this build's CLI.
  const copy = join(tempDir(), "ringdht.service");
  writeFileSync(copy, unit.replace("/usr/local/bin/ringdht", `${process.execPath} ${CLI_PATH}`));
  const verify = spawnSync("systemd-analyze", ["verify", copy], { encoding: "utf8" });
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), "", "no warnings (unknown keys, bad values)");
});

test("the unit's data_dir is its StateDirectory; examples/node.ini is a valid configuration", () => {
  const unit = read("examples/ringdht.service");
  const state = /^StateDirectory=(\S+)$/m.exec(unit)?.[1];
  assert.equal(state, "ringdht");
  assert.match(unit, /^Environment=RINGDHT_DATA_DIR=\/var\/lib\/ringdht$/m);
  const { warnings } = parseConfig(read("examples/node.ini"), "examples/node.ini");
  assert.deepEqual(warnings, []);
});
