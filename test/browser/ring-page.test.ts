// The live ring page in real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core; no browser is ever downloaded): an 8-node testnet
// with one admin endpoint draws 8 nodes, and 7 once a node leaves, without a
// reload (the page follows /events). A single node's page draws the node and
// the peers it knows. Run by `npm run test:browser`, not by `npm test`.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { silentLogger } from "../../src/log.js";
import { formatAddress } from "../../src/net/address.js";
import type { AdminServer } from "../../src/net/admin-server.js";
import type { RingDhtNode } from "../../src/node.js";
import { startTestnet } from "../../src/testnet.js";
import { startTestnetAdmin } from "../../src/testnet-admin.js";
import { cleanupAll, onCleanup } from "../harness/cleanup.js";
import { loopbackConfig, startInProcessNode } from "../harness/in-process.js";

const CHROMIUM = "/usr/bin/chromium";
const PER_TEST = { timeout: 60_000 };

after(cleanupAll);

/** A fresh profile (user data dir) per run. */
let browser: BrowserContext;
before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium`);
  const profile = mkdtempSync(join(tmpdir(), "ringdht-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  onCleanup(async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  });
});

/** Waits until the page draws `n` ring members (polled in the page, no reload). */
async function membersDrawn(page: Page, n: number): Promise<void> {
  await drawnCount(page, "#nodes g.node.member", n);
}

/** Waits until `selector` matches `n` elements (evaluated in the page: no DOM types here). */
async function drawnCount(page: Page, selector: string, n: number): Promise<void> {
  await page.waitForFunction(
    `document.querySelectorAll(${JSON.stringify(selector)}).length === ${n}`,
    undefined,
    {
      timeout: 30_000,
    },
  );
}

describe("the ring page of an 8-node testnet", () => {
  let nodes: RingDhtNode[];
  let admin: AdminServer;
  before(async () => {
    nodes = await startTestnet(
      { nodes: 8, host: "127.0.0.1", p2pBasePort: 0, apiBasePort: 0, metrics: true },
      silentLogger(),
    );
    onCleanup(() => Promise.all(nodes.map((n) => n.crash())).then(() => {}));
    admin = await startTestnetAdmin(() => nodes, { host: "127.0.0.1", port: 0 }, silentLogger());
    onCleanup(() => admin.close());
  });

  test("draws every node at its ID, successor arrows, then follows a leave", PER_TEST, async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(`http://${formatAddress(admin.address)}/`);
    await membersDrawn(page, 8);
    const drawn = await page.$$eval("#nodes g.node.member", (gs) =>
      gs.map((g) => g.getAttribute("data-id")),
    );
    assert.deepEqual(new Set(drawn), new Set(nodes.map((n) => n.chord.self.id)));
    // One successor arrow per node once the ring has formed.
    await drawnCount(page, "#edges path.succ", 8);
    assert.equal(await page.locator("#edges path.finger").count(), 0);
    await page.locator("#fingers").check();
    // Fingers are fixed by upkeep after the joins: waited for, not counted at once (right
    // after the box was checked, fewer than 8 were drawn in every run here on 2026-12-02).
    await page.waitForFunction(
      `document.querySelectorAll("#edges path.finger").length >= 8`,
      undefined,
      { timeout: 30_000 },
    );
    assert.match((await page.locator("#count").textContent()) ?? "", /^8 nodes/);
    // Records and health per node, in the list beside the ring.
    assert.equal(await page.locator("#list tr").count(), 8);

    let navigations = 0;
    page.on("framenavigated", () => navigations++);
    const leaver = nodes[3]!;
    await leaver.stop("leaves for the test");
    await membersDrawn(page, 7);
    const left = await page.$$eval("#nodes g.node.member", (gs) =>
      gs.map((g) => g.getAttribute("data-id")),
    );
    assert.ok(!left.includes(leaver.chord.self.id));
    assert.equal(navigations, 0, "the page reloaded");
    assert.deepEqual(errors, []);
    if (process.env.RING_PAGE_SCREENSHOT !== undefined)
      await page.screenshot({ path: process.env.RING_PAGE_SCREENSHOT });
    await page.close();
  });
});

test("a single node's page draws the node and the peers it knows", PER_TEST, async () => {
  const config = (...extra: string[]) =>
    loopbackConfig("stabilize_interval_ms = 100", "pow_difficulty = 4", ...extra);
  const a = await startInProcessNode(config("http_address = 127.0.0.1:0"));
  await startInProcessNode(config(`bootstrapper = ${a.p2pAddress}`));
  await startInProcessNode(config(`bootstrapper = ${a.p2pAddress}`));
  const page = await browser.newPage();
  await page.goto(`http://${formatAddress(a.httpAddress!)}/`);
  await membersDrawn(page, 1);
  await drawnCount(page, "#nodes g.node.peer", 2);
  await page.close();
});
