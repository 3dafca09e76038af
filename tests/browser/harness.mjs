// Shared set-up for the browser tests: a real `coophost serve --demo` on a
// fresh data directory and a free port, Debian's headless Chromium driven by
// playwright-core, an axe-core check for every page, and screenshots.

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, "../..");
const require = createRequire(import.meta.url);
const axePath = require.resolve("axe-core/axe.min.js");

export const CHROMIUM = process.env.COOPHOST_CHROMIUM || "/usr/bin/chromium";
const BIN = process.env.COOPHOST_BIN || join(root, "target/debug/coophost");
const COMPONENTS = join(root, "target/components");
export const SHOTS = process.env.COOPHOST_SCREENSHOTS || join(root, "target/browser-screenshots");
export const PASSWORD = "demo-password-123";

/** A phone (360 CSS pixels wide) and a laptop. */
export const PHONE = { width: 360, height: 780 };
export const DESKTOP = { width: 1024, height: 800 };

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** Start coophost with the demo coops; resolves once /healthz answers. */
export async function startHost() {
  for (const p of [BIN, COMPONENTS]) {
    if (!existsSync(p)) throw new Error(`${p} is missing: run scripts/test (it builds both) first`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), "coophost-browser-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let log = "";
  const child = spawn(BIN, ["serve", "--demo", COMPONENTS, "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" },
  });
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const deadline = Date.now() + 240_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`coophost exited early:\n${log}`);
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`coophost did not become ready in time:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    base,
    log: () => log,
    async stop() {
      child.kill("SIGINT");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium from Debian, never a downloaded browser. */
export async function startBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
}

/**
 * A fresh browser context (its own cookies). `bypassCSP` lets the test
 * inject axe-core into pages that otherwise allow only their own scripts.
 */
export async function newPage(browser, { viewport = PHONE, locale = "en-GB" } = {}) {
  const context = await browser.newContext({ viewport, locale, bypassCSP: true, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    // A form refused with 422 or 409 is an expected answer, not an error.
    const expected = /status of (422|409) /.test(m.text());
    if (m.type() === "error" && !expected) errors.push(m.text());
  });
  page.jsErrors = errors;
  return page;
}

/** Run axe-core on the page; fail on any serious or critical violation. */
export async function checkA11y(page, label) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
    }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `accessibility violations on ${label}: ${JSON.stringify(bad, null, 2)}`);
  return result;
}

/** Save a screenshot as SHOTS/<name>.png. */
export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  // COOPHOST_SCREENSHOT_VIEWPORT=1 (scripts/screenshots) keeps to what the
  // screen shows, for the README; tests keep the whole page.
  const fullPage = process.env.COOPHOST_SCREENSHOT_VIEWPORT !== "1";
  await page.screenshot({ path, fullPage });
  return path;
}

/** Log in through the form. */
export async function login(page, base, email) {
  await page.goto(`${base}/login`);
  await page.getByLabel(/^(Email|Adresse e-mail)$/).fill(email);
  await page.getByLabel(/^(Password|Mot de passe)$/).fill(PASSWORD);
  await page.getByRole("main").getByRole("button", { name: /^(Log in|Se connecter)$/ }).click();
  await page.waitForLoadState("load");
  assert.ok(!page.url().includes("/login"), `login as ${email} failed: ${page.url()}`);
}
