// Every other main page renders for the people it is for, on a phone,
// without a JavaScript error, and passes axe-core.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startHost, startBrowser, newPage, checkA11y, shot, login } from "./harness.mjs";

let host;
let browser;
before(async () => {
  host = await startHost();
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
  await host?.stop();
});

async function visit(page, path, heading, name) {
  const resp = await page.goto(`${host.base}${path}`);
  assert.equal(resp.status(), 200, `${path} answered ${resp.status()}`);
  await page.getByRole("heading", { level: 1, name: heading }).waitFor();
  await checkA11y(page, path);
  if (name) await shot(page, name);
}

test("the home page lists the coops' public pages without login", async () => {
  const page = await newPage(browser);
  await visit(page, "/", "Welcome", "home");
  await page.getByRole("heading", { name: "Coops on this host" }).waitFor();
  assert.ok(await page.getByRole("link", { name: "Log in" }).first().isVisible());
  assert.deepEqual(page.jsErrors, []);
});

test("a courier's pages", async () => {
  const page = await newPage(browser);
  await login(page, host.base, "ana@velo.coop");
  await visit(page, "/c/velo/work", "My work and pay", "work-and-pay");
  await page.getByRole("img", { name: /effective pay per hour/i }).waitFor();
  await visit(page, "/c/velo/inbox", "Inbox", "inbox");
  await visit(page, "/c/velo/governance/decisions", "Decision log");
  await visit(page, "/c/velo/governance/terms", "Terms of service");
  await visit(page, "/c/velo/governance/new", "Open a proposal");
  await visit(page, "/c/velo/delivery", "Delivery");
  await visit(page, "/c/velo/services", "Services", "services");
  assert.deepEqual(page.jsErrors, []);
});

test("an admin's pages", async () => {
  const page = await newPage(browser);
  await login(page, host.base, "admin@velo.coop");
  await visit(page, "/c/velo/plugins", "Plugins", "plugins");
  await visit(page, "/c/velo/plugins/bike-delivery", /bike-delivery/);
  await visit(page, "/c/velo/delivery/dispatch", "Dispatch");
  // A generic page generated from the WIT types of an interface.
  await page.goto(`${host.base}/c/velo/services`);
  await page.getByRole("link", { name: /coop:delivery\/quotes/ }).first().click();
  await page.getByRole("button", { name: /^Call / }).first().waitFor();
  await checkA11y(page, "generic page");
  await shot(page, "generic-page");
  assert.deepEqual(page.jsErrors, []);
});
