// The public transparency page renders without login, on a phone, in both
// languages, and passes axe-core.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startHost, startBrowser, newPage, checkA11y, shot, DESKTOP } from "./harness.mjs";

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

test("the public transparency page renders without login", async () => {
  const page = await newPage(browser, { locale: "en-GB" });
  const resp = await page.goto(`${host.base}/t/velo`);
  assert.equal(resp.status(), 200);
  await page.getByRole("heading", { level: 1, name: /How Vélo Lyon/ }).waitFor();
  // The algorithm card with the price per km in force, the split, the floor.
  assert.ok(await page.getByRole("rowheader", { name: "price-per-km", exact: true }).isVisible());
  await page.getByRole("heading", { name: "How the value is shared" }).waitFor();
  assert.match(await page.locator("#h-earnings + ul").innerText(), /€12\.02 per hour on shift/);
  assert.match(await page.locator("main").innerText(), /entries verify: none was changed or removed/);
  // Nobody is logged in: the header offers to log in.
  assert.ok(await page.getByRole("link", { name: "Log in" }).isVisible());
  await checkA11y(page, "/t/velo (en, phone)");
  await shot(page, "transparency-phone");
  assert.deepEqual(page.jsErrors, []);
});

test("the same page in French on a laptop, from Accept-Language", async () => {
  const page = await newPage(browser, { locale: "fr-FR", viewport: DESKTOP });
  await page.goto(`${host.base}/t/velo`);
  await page.getByRole("heading", { level: 1, name: /Comment fonctionne Vélo Lyon/ }).waitFor();
  assert.equal(await page.getAttribute("html", "lang"), "fr");
  await checkA11y(page, "/t/velo (fr, desktop)");
  await shot(page, "transparency-desktop-fr");
});
