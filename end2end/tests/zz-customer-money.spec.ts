import { test, expect, Page, Browser } from "@playwright/test";

import {
  advanceClock,
  advanceClockTo,
  at,
  billingPeriod,
  billPeriod,
  collectErrors,
  DAY_MS,
  deleteWorkspace,
  dollars,
  hydrated,
  mailLink,
  minor,
} from "./helpers";

// A reseller's customer who never saved a card, and the reseller running that relationship: the customer
// subscribes on a welcome credit the reseller gave; the month is billed, credit pays part, the rest is
// left due; past the due date and the storefront's grace new orders are refused, saying why; "Pay now"
// pays it through the storefront's Stripe checkout and ordering works again. The reseller then refunds
// the invoice — the card part to the card, the rest to credit — and the customer sees the credit note.
// Moves the server's clock forward (as zz-billing does), so it runs after the other journeys.

test.describe.configure({ mode: "serial" });

const SHOP = "acme.localhost";
const email = `nocard${Date.now() % 1_000_000}@acme.test`;
const password = "no-card-password-1";
/** The billed period and its invoice, found by the first journey and refunded by the second. */
let period = "";
let invoiceNumber = "";
let invoiceTotal = 0;

// Sessions last 12 hours of the server's clock: after each move of it, sign in again.
async function signInCustomer(page: Page) {
  await page.goto(at(SHOP, "/login"));
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/workspaces$/);
}

/** The reseller's owner, in a browser of their own, on this customer's page in their directory. */
async function customerFile(browser: Browser): Promise<Page> {
  const staff = await (await browser.newContext()).newPage();
  await staff.goto(at(SHOP, "/manage/login"));
  await hydrated(staff);
  await staff.getByLabel("Email").fill("owner@acme.test");
  await staff.getByLabel("Password").fill("owner-password");
  await staff.getByRole("button", { name: "Sign in" }).click();
  await expect(staff).toHaveURL(/\/manage\/branding$/);
  await staff.goto(at(SHOP, `/manage/customers?q=${encodeURIComponent(email)}`));
  await hydrated(staff);
  const row = staff.getByTestId("customer-row").filter({ hasText: email });
  await expect(row).toHaveCount(1);
  await row.getByRole("link").click();
  await expect(staff).toHaveURL(/\/manage\/customers\/[0-9a-f-]{36}$/);
  await expect(staff.getByTestId("customer-name")).toHaveText("No Card Customer");
  return staff;
}

async function openBilling(page: Page) {
  await page.goto(at(SHOP, "/billing"));
  await hydrated(page);
}

test("a customer without a card pays an overdue invoice", async ({ page, browser, request }) => {
  const errors = collectErrors(page);

  // A new customer of the reseller: signs up and confirms the address from the email.
  await page.goto(at(SHOP, "/signup"));
  await hydrated(page);
  await page.getByLabel("Name").fill("No Card Customer");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password (at least 10 characters)").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("signup-done")).toBeVisible();
  await page.goto(await mailLink(browser, email, "/verify?token="));
  await hydrated(page);
  await page.getByTestId("confirm-email").click();
  await expect(page.getByTestId("email-confirmed")).toBeVisible();

  // A whole month to bill: move to the start of the next period.
  await signInCustomer(page);
  await openBilling(page);
  await advanceClockTo(request, (await billingPeriod(page)).nextStart + 10 * 60_000);

  // The reseller gives a welcome credit, with the reason the customer will read.
  const staff = await customerFile(browser);
  const credit = staff.getByTestId("credit-form");
  await credit.locator('select[name="direction"]').selectOption("add");
  await credit.locator('input[name="amount"]').fill("5.00");
  await credit.locator('input[name="reason"]').fill("Welcome credit");
  await credit.getByRole("button", { name: "Apply" }).click();
  await expect(staff.getByTestId("balance")).toHaveText("$5.00");
  await staff.context().close();

  // The customer has no card, and subscribes on that credit.
  await signInCustomer(page);
  await openBilling(page);
  await expect(page.getByTestId("balance")).toHaveText("$5.00");
  await expect(page.getByTestId("card")).toContainText("No card on file");
  await expect(page.getByTestId("ledger-row").filter({ hasText: "Welcome credit" })).toContainText("$5.00");
  await page.getByTestId("subscription-plan-vps-basic").getByRole("button", { name: "Subscribe" }).click();
  await expect(page.getByTestId("subscription")).toHaveCount(1);
  const billed = await billingPeriod(page);
  period = billed.key;

  // The month ends; the platform runs billing for the reseller's storefront.
  await billPeriod(browser, request, "acme", period, billed.nextStart);

  // The invoice: the month's subscription, the credit applied, the rest left due in 7 days (the default
  // terms), with Pay now.
  await signInCustomer(page);
  await openBilling(page);
  const row = page.getByTestId("invoice-row").filter({ hasText: "INV-" }).filter({ hasText: period });
  await expect(row).toHaveCount(1);
  const cells = row.locator("td");
  invoiceNumber = ((await cells.nth(0).textContent()) ?? "").trim();
  await expect(cells.nth(2)).toHaveText("finalised");
  invoiceTotal = minor(await cells.nth(3).textContent());
  expect(invoiceTotal).toBeGreaterThan(1_400); // 15.00 a month, less the first ten minutes
  expect(invoiceTotal).toBeLessThanOrEqual(1_500);
  const due = invoiceTotal - 500;
  await expect(cells.nth(4)).toHaveText(dollars(due));
  await expect(row).toHaveAttribute("data-overdue", "false");
  await expect(page.getByTestId("balance")).toHaveText("$0.00");

  // Past the due date and the 14 days' grace: overdue, and a new order is refused, saying why.
  await advanceClock(request, (7 + 14) * DAY_MS + 60 * 60_000);
  await signInCustomer(page);
  await openBilling(page);
  await expect(row).toHaveAttribute("data-overdue", "true");
  await expect(cells.nth(5)).toContainText("(overdue)");
  await page.goto(at(SHOP, "/"));
  await hydrated(page);
  const before = errors.length;
  await page.getByTestId("plan-developer-basic").getByRole("button", { name: "Order" }).click();
  await expect(page.getByText(`Invoice ${invoiceNumber} (${dollars(due)}) is overdue.`, { exact: false })).toBeVisible();
  await expect(page).not.toHaveURL(/\/workspaces\//);
  // The refusal is an HTTP 400 carrying the reason, which the browser also logs as a failed request.
  expect(errors.splice(before)).toEqual(["Failed to load resource: the server responded with a status of 400 (Bad Request)"]);

  // Pay now: the storefront's Stripe checkout for exactly what is due, and back.
  await openBilling(page);
  await row.getByTestId("pay-now").click();
  await expect(page).toHaveURL(/\/pay\/cs_/);
  await page.locator("#pay").click();
  await expect(page).toHaveURL(/\/billing\?topup=cs_/);
  await hydrated(page);
  await expect(cells.nth(2)).toHaveText("paid");
  await expect(cells.nth(4)).toHaveText("$0.00");
  await expect(row.getByTestId("pay-now")).toHaveCount(0);
  await expect(row).toHaveAttribute("data-overdue", "false");
  // The card the checkout saved is on file for next time.
  await expect(page.getByTestId("card")).toContainText("Card on file");

  // Ordering works again.
  await page.goto(at(SHOP, "/"));
  await hydrated(page);
  await page.getByTestId("plan-developer-basic").getByRole("button", { name: "Order" }).click();
  await expect(page).toHaveURL(/\/workspaces\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("state")).toHaveText("Running", { timeout: 20_000 });
  await deleteWorkspace(page);
  expect(errors).toEqual([]);
});

test("the reseller refunds the invoice and the customer sees the credit note", async ({ page, browser }) => {
  expect(invoiceNumber).not.toBe("");
  const errors = collectErrors(page);
  const cardPart = invoiceTotal - 500;

  // The reseller credits the whole invoice: what the card paid goes back to the card, the rest to credit.
  const staff = await customerFile(browser);
  const invoice = staff.getByTestId("customer-invoice").filter({ hasText: invoiceNumber });
  await invoice.locator("summary").click();
  const form = invoice.getByTestId("credit-note-form");
  await expect(form.locator('input[name="amount"]')).toHaveValue((invoiceTotal / 100).toFixed(2));
  await form.locator('select[name="to"]').selectOption("card");
  await form.locator('input[name="reason"]').fill("Refund requested by the customer");
  await form.getByRole("button", { name: "Issue credit note" }).click();
  await expect(staff.getByTestId("card-refunds")).toContainText(`${dollars(cardPart)} · refunded`);
  await expect(staff.getByTestId("refund-note")).toHaveCount(0);
  await expect(staff.getByTestId("customer-invoice").filter({ hasText: invoiceNumber })).toContainText(
    `${dollars(invoiceTotal)} credited`,
  );
  await staff.context().close();

  // The customer sees the credit note, and the credit part back on their balance's movements.
  await signInCustomer(page);
  await openBilling(page);
  const note = page.getByTestId("invoice-row").filter({ hasText: "CN-" }).filter({ hasText: period });
  await expect(note).toHaveCount(1);
  await expect(note.locator("td").nth(3)).toHaveText(dollars(invoiceTotal));
  await expect(page.getByTestId("ledger-row").filter({ hasText: `Credit note against ${invoiceNumber}` })).toContainText(
    "$5.00",
  );
  await note.getByRole("link").click();
  await expect(page.getByTestId("invoice")).toBeVisible();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Credit note CN-");
  await expect(page.getByTestId("invoice-total")).toHaveText(dollars(invoiceTotal));
  expect(errors).toEqual([]);
});
