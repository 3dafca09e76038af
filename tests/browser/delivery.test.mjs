// A merchant quotes and orders a delivery; a courier starts a shift, sees
// the offer with its pay, accepts it, picks it up and delivers it with the
// code the merchant was given; the merchant then sees it delivered.
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

test("a merchant quotes and orders a delivery and a courier completes it", async () => {
  const shop = await newPage(browser);
  await login(shop, host.base, "shop@velo.coop");
  await shop.goto(`${host.base}/c/velo/delivery`);
  await checkA11y(shop, "delivery entry");
  await shop.getByRole("link", { name: "Request a quote" }).first().click();
  // Server-side validation: a latitude that is no number.
  await shop.getByLabel("Drop-off address").fill("12 rue Mercière, 69002 Lyon");
  await shop.getByLabel("Latitude").fill("north");
  await shop.getByLabel("Longitude").fill("4.8320");
  await shop.getByLabel("Number of packages").fill("1");
  await shop.getByLabel("Total weight (kg)").fill("2,5");
  await shop.getByRole("button", { name: "Get a quote" }).click();
  await shop.getByText("Enter the latitude as a number from -90 to 90.").first().waitFor();
  assert.equal(await shop.getByLabel("Drop-off address").inputValue(), "12 rue Mercière, 69002 Lyon");
  await checkA11y(shop, "quote form with errors");
  await shop.getByLabel("Latitude").fill("45.7640");
  await shop.getByRole("button", { name: "Get a quote" }).click();
  await shop.getByText("Here is your quote.").waitFor();
  // The breakdown: lines that add up to the price, and the rules.
  const breakdown = await shop.getByRole("table", { name: "How the price is made up" }).innerText();
  assert.match(breakdown, /Pickup and drop-off/);
  assert.match(breakdown, /Distance/);
  await shop.getByRole("table", { name: "The pricing rules and whether they applied" }).waitFor();
  await checkA11y(shop, "quote");
  await shot(shop, "delivery-quote");

  await shop.getByLabel("Recipient").fill("Boulangerie Martin");
  await shop.getByRole("button", { name: /^Order for / }).click();
  await shop.getByText("Your order is placed").waitFor();
  const code = (await shop.locator("#proof-code").innerText()).trim();
  assert.match(code, /^\d{6}$/);
  const orderUrl = shop.url().split("?")[0];
  await checkA11y(shop, "order");

  // The courier.
  const ana = await newPage(browser);
  await login(ana, host.base, "ana@velo.coop");
  await ana.goto(`${host.base}/c/velo/delivery/courier`);
  await ana.getByRole("button", { name: "Start my shift" }).click();
  await ana.getByText("Your shift has started.").waitFor();
  const allow = ana.getByRole("button", { name: /^Allow my .* data$/ });
  if (await allow.count()) {
    await allow.click();
    await ana.getByText("your choice is recorded").waitFor();
  }
  await ana.getByLabel("Latitude").fill("45.7578");
  await ana.getByLabel("Longitude").fill("4.8320");
  await ana.getByRole("button", { name: "Send my position" }).click();
  await ana.getByText("Your position was sent.").waitFor();
  // The offer, with destination and guaranteed pay.
  const offers = ana.locator("[data-live]");
  await offers.getByText("To 12 rue Mercière").first().waitFor();
  assert.match(await offers.innerText(), /Your pay: €\d+\.\d\d/);
  await checkA11y(ana, "courier with an offer");
  await shot(ana, "courier-offers");
  await offers.getByRole("button", { name: /^Accept / }).first().click();
  await ana.getByText("You took the delivery.").waitFor();
  await ana.getByRole("button", { name: "On my way to the pickup" }).click();
  await ana.getByRole("button", { name: "Picked up" }).click();
  await ana.getByText("Marked as picked up.").waitFor();
  await ana.getByRole("button", { name: "On my way to the recipient" }).click();
  await ana.getByLabel("Recipient's code").fill(code);
  await ana.getByRole("button", { name: "Delivered", exact: true }).click();
  await ana.getByText("Delivered. Thank you!").waitFor();
  await checkA11y(ana, "courier after delivery");

  await shop.goto(orderUrl);
  assert.match(await shop.locator("main").innerText(), /Delivered/);
  await shot(shop, "delivery-order-delivered");
  assert.deepEqual([...shop.jsErrors, ...ana.jsErrors], []);
});
