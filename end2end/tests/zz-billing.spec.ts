import { test, expect, Page } from "@playwright/test";

import { billingPeriod, billPeriod, collectErrors, hydrated, minor } from "./helpers";

// Money as a customer and an operator see it: top up through the (local) Stripe checkout, run a
// workspace, watch "so far this period", let the period end, run billing as the admin, and open the
// invoice — its total is what the page showed. Runs after the journeys that do not move the server's clock.

async function signIn(page: Page) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Email").fill("other@ezscale.test");
  await page.getByLabel("Password").fill("other-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/workspaces$/);
}

test("top up by card, run a workspace, watch the period's figure, bill it, and the invoice matches", async ({ page, browser, request }) => {
  const errors = collectErrors(page);
  await signIn(page);

  // Top up 20.00 through the checkout page.
  await page.goto("/billing");
  await hydrated(page);
  const before = minor(await page.getByTestId("balance").textContent());
  await page.getByTestId("top-up-amount").fill("20.00");
  await page.getByTestId("top-up").click();
  await expect(page).toHaveURL(/\/pay\/cs_/);
  await page.locator("#pay").click();
  await expect(page).toHaveURL(/\/billing\?topup=cs_/);
  await hydrated(page);
  await expect.poll(async () => minor(await page.getByTestId("balance").textContent())).toBe(before + 2000);

  // Run a workspace: the period's figure ticks up from the same function as the invoice.
  await page.goto("/");
  await hydrated(page);
  await page.getByTestId("plan-developer-basic").getByRole("button", { name: "Order" }).click();
  await expect(page.getByTestId("state")).toHaveText("Running", { timeout: 20_000 });
  await page.goto("/billing");
  await hydrated(page);
  await expect.poll(async () => minor(await page.getByTestId("month-to-date").textContent())).toBeGreaterThan(0);
  await page.goto("/workspaces");
  await hydrated(page);
  await page.locator('a[href^="/workspaces/"]').first().click();
  await page.getByTestId("stop").click();
  await expect(page.getByTestId("state")).toHaveText("Stopped");
  await page.goto("/billing");
  await hydrated(page);
  const shown = minor(await page.getByTestId("month-to-date").textContent());
  expect(shown).toBeGreaterThan(0);
  const { key: period, nextStart } = await billingPeriod(page);

  // The period ends (the server's clock moves just past it) and the admin runs billing for it.
  await billPeriod(browser, request, "house", period, nextStart);

  // The customer opens the invoice: its total is what the page showed.
  await signIn(page);
  await page.goto("/billing");
  await hydrated(page);
  const row = page.getByTestId("invoice-row").filter({ hasText: period });
  await expect(row).toHaveCount(1);
  await row.locator("a").click();
  await expect(page.getByTestId("invoice")).toBeVisible();
  expect(minor(await page.getByTestId("invoice-total").textContent())).toBe(shown);
  await expect(page.getByTestId("invoice-csv")).toBeVisible();
  // Its PDF downloads with the customer's session (the page's own cookies).
  const pdfHref = await page.getByTestId("invoice-pdf").getAttribute("href");
  const pdf = await page.request.get(pdfHref!);
  expect(pdf.status()).toBe(200);
  expect(pdf.headers()["content-type"]).toBe("application/pdf");
  expect((await pdf.body()).subarray(0, 8).toString()).toBe("%PDF-1.4");
  expect(errors).toEqual([]);
});
