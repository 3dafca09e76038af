// A member withdraws a consent and downloads their export.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
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

test("a member withdraws a consent and downloads their export", async () => {
  const page = await newPage(browser);
  await login(page, host.base, "chloe@velo.coop");
  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "My data" }).click();
  await page.getByRole("heading", { name: "location data, used by bike-delivery" }).waitFor();
  await checkA11y(page, "my data");
  const give = page.getByRole("button", { name: "Allow bike-delivery to use my location data" });
  if (await give.count()) {
    await give.click();
    await page.getByText("Your consent is recorded.").waitFor();
  }
  await page.getByRole("button", { name: "Withdraw my consent for location data (bike-delivery)" }).click();
  await page.getByText("Your consent is withdrawn").waitFor();
  // The choice is shown as it now stands.
  await page.getByRole("button", { name: "Allow bike-delivery to use my location data" }).waitFor();
  await checkA11y(page, "my data after withdrawing");
  await shot(page, "my-data");

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download my data" }).click(),
  ]);
  assert.equal(download.suggestedFilename(), "velo-my-data.json");
  const archive = JSON.parse(await readFile(await download.path(), "utf8"));
  const text = JSON.stringify(archive);
  assert.match(text, /chloe@velo\.coop/);
  // Both decisions about location are in it.
  assert.ok((text.match(/"location"/g) || []).length >= 2, text.slice(0, 2000));
  assert.deepEqual(page.jsErrors, []);
});
