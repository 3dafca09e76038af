// A worker logs in, votes on the open proposal, changes the vote, and reads
// the result of a decided proposal with its tally per college. Also: the
// language switcher and logging out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startHost, startBrowser, newPage, checkA11y, shot, login } from "./harness.mjs";

// The demo's governance history (host/src/demo.rs: OPEN_TITLE, DECIDED_TITLE).
const OPEN_TITLE = "Raise the price per km to 1.70 EUR";
const DECIDED_TITLE = "Winter kit for every courier";

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

test("a worker votes on a proposal, changes the vote and sees a result", async () => {
  const page = await newPage(browser);
  await login(page, host.base, "ana@velo.coop");
  assert.match(page.url(), /\/c\/velo$/);
  await page.getByText("Hello Ana.").waitFor();
  await checkA11y(page, "coop home");
  await shot(page, "coop-home");

  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Governance" }).click();
  await page.getByRole("heading", { name: OPEN_TITLE }).waitFor();
  await checkA11y(page, "governance");
  await shot(page, "governance");

  await page.getByRole("link", { name: OPEN_TITLE }).first().click();
  await page.getByText("You have not voted yet.").waitFor();
  await checkA11y(page, "open proposal");
  // A vote without a choice is refused on the server with a message.
  await page.getByRole("button", { name: "Vote", exact: true }).click();
  await page.getByText("Choose yes, no or abstain.").first().waitFor();
  await page.getByRole("radio", { name: "Yes" }).check();
  await page.getByRole("button", { name: "Vote", exact: true }).click();
  await page.getByText("Your vote is recorded.").waitFor();
  await page.getByText("You voted: Yes.").waitFor();
  // Change it before the close.
  await page.getByRole("radio", { name: "No" }).check();
  await page.getByRole("button", { name: "Change my vote" }).click();
  await page.getByText("You voted: No.").waitFor();
  await shot(page, "proposal-voted");

  // The decided proposal: the result and the tally per college.
  await page.goto(`${host.base}/c/velo/governance`);
  await page.getByRole("link", { name: DECIDED_TITLE }).click();
  await page.getByRole("heading", { name: "Tally per college" }).waitFor();
  const tally = await page.getByRole("table", { name: "Votes and weight of each college" }).innerText();
  assert.match(tally, /workers/);
  assert.match(await page.locator("main").innerText(), /Passed/);
  await page.getByText("A recount from the recorded votes gives the same result.").waitFor();
  await checkA11y(page, "decided proposal");
  await shot(page, "proposal-result");
  assert.deepEqual(page.jsErrors, []);
});

test("the switcher changes the language and logging out ends the session", async () => {
  const page = await newPage(browser, { locale: "en-US" });
  await login(page, host.base, "ben@velo.coop");
  await page.getByRole("heading", { level: 1 }).waitFor();
  await page.getByLabel("Language").selectOption("fr");
  await page.getByRole("button", { name: "Change language" }).click();
  await page.getByText("Bonjour Ben.").waitFor();
  assert.equal(await page.getAttribute("html", "lang"), "fr");
  await page.getByRole("button", { name: "Se déconnecter" }).click();
  await page.waitForURL(`${host.base}/`);
  // The member pages now send to the login form.
  await page.goto(`${host.base}/c/velo/inbox`);
  assert.match(page.url(), /\/login\?next=/);
  await checkA11y(page, "login (fr)");
  await shot(page, "login-fr");
});
