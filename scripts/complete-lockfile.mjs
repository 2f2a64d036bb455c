// The registry mirror here serves only Linux builds of packages that ship
// per-platform binaries (Biome, msgpackr-extract), so `npm install` leaves
// their other platforms out of package-lock.json and `npm ci` then refuses
// the lock as out of sync. This adds the missing optional entries with their
// os/cpu/libc, as npm writes them on a full registry; they are never fetched
// on a platform they do not match. Run after `npm install` changes the lock.

import { readFileSync, writeFileSync } from "node:fs";

const PLATFORM = /-(android|darwin|linux|win32|freebsd)-(arm64|x64|arm|ia32)(-musl)?$/;
const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
const packages = lock.packages;
const added = [];
for (const meta of Object.values(packages)) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    if (key in packages) continue;
    const m = PLATFORM.exec(dep);
    if (m === null) throw new Error(`no platform in the name of ${dep}`);
    packages[key] = {
      version,
      ...(meta.dev ? { dev: true } : {}),
      optional: true,
      os: [m[1]],
      cpu: [m[2]],
      ...(m[3] ? { libc: ["musl"] } : {}),
    };
    added.push(dep);
  }
}
const sorted = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : 1)),
);
writeFileSync("package-lock.json", `${JSON.stringify({ ...lock, packages: sorted }, null, 2)}\n`);
console.log(
  `added ${added.length} optional platform entries${added.length ? `: ${added.join(", ")}` : ""}`,
);
