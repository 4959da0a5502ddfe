import { test, expect, Page, Browser } from "@playwright/test";

import { at, advanceClock, advanceClockTo, collectErrors, DAY_MS, deleteWorkspace, hydrated, minor, serverNow, signInAdmin } from "./helpers";

// The platform gets paid: the admin raises a plan's wholesale price from tomorrow and the reseller sees the
// change coming; the admin bills the reseller's month with its platform fee, the invoice goes unpaid past
// its due date and grace, and a collection pass makes the storefront past due (its customers can no longer
// order, without being told why); the reseller pays every open wholesale invoice through the platform's
// payment page and the storefront resumes at once. Moves the server's clock (after zz-customer-money).

test.describe.configure({ mode: "serial" });

const SHOP = "acme.localhost";

async function signInOwner(browser: Browser): Promise<Page> {
  const staff = await (await browser.newContext()).newPage();
  await staff.goto(at(SHOP, "/manage/login"));
  await hydrated(staff);
  await staff.getByLabel("Email").fill("owner@acme.test");
  await staff.getByLabel("Password").fill("owner-password");
  await staff.getByRole("button", { name: "Sign in" }).click();
  await expect(staff).toHaveURL(/\/manage\/branding$/);
  return staff;
}

async function adminOnAcme(browser: Browser): Promise<Page> {
  const admin = await (await browser.newContext()).newPage();
  await signInAdmin(admin);
  await admin.goto(at("admin.localhost", "/admin/tenants/acme"));
  await hydrated(admin);
  await expect(admin.getByTestId("tenant-standing")).toBeVisible();
  return admin;
}

/** What a customer of acme is told when ordering (the catalog's first plan). */
async function customerOrders(page: Page) {
  await page.goto(at(SHOP, "/login"));
  await hydrated(page);
  await page.getByLabel("Email").fill("customer@acme.test");
  await page.getByLabel("Password").fill("customer-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/workspaces$/);
  await page.goto(at(SHOP, "/"));
  await hydrated(page);
  await page.getByTestId("plan-developer-basic").getByRole("button", { name: "Order" }).click();
}

/** "2026-12-07T10:00:00" (UTC) for a datetime-local input. */
const utcInput = (ms: number) => new Date(ms).toISOString().slice(0, 19);

test("the admin raises a price, bills the reseller, and the reseller pays to resume", async ({ page, browser, request }) => {
  const errors = collectErrors(page);

  // The admin schedules a higher base wholesale price for Developer Basic, from a day ahead.
  const from = (await serverNow(request)) + DAY_MS;
  await signInAdmin(page);
  await page.goto(at("admin.localhost", "/admin/prices"));
  await hydrated(page);
  await page.locator('select[name="plan"]').selectOption("developer-basic");
  await page.locator('select[name="scope_kind"]').selectOption("base");
  await page.locator('input[name="per_hour"]').fill("0.50");
  await page.locator('input[name="effective_at"]').fill(utcInput(from));
  await page.getByTestId("schedule-price").click();
  await expect(page.getByTestId("price-scheduled")).toBeVisible();
  await expect(page.getByTestId("price-row").filter({ hasText: "0.50" }).filter({ hasText: "Developer Basic" })).toHaveAttribute("data-state", "scheduled");

  // The reseller sees it coming on their billing page, with what it does to their margin.
  const staff = await signInOwner(browser);
  await staff.goto(at(SHOP, "/manage/billing"));
  await hydrated(staff);
  const upcoming = staff.locator('[data-testid="upcoming-change"][data-plan="developer-basic"]');
  await expect(upcoming).toContainText("0.50");
  await expect(upcoming).toContainText(utcInput(from).slice(0, 10));
  await staff.context().close();

  // The admin's terms for acme: a platform fee of 49.00 a month, and wholesale invoices due in 7 days, past
  // due 3 days later, suspended only after 90 more (so this journey sees "past due" whatever invoices the
  // earlier journeys left).
  let admin = await adminOnAcme(browser);
  await admin.locator('input[name="platform_fee"]').fill("49.00");
  await admin.getByTestId("save-terms").click();
  await expect(admin.getByTestId("terms-saved")).toBeVisible();
  const terms = admin.getByTestId("wholesale-terms-form");
  await terms.locator('input[name="due_days"]').fill("7");
  await terms.locator('input[name="grace_days"]').fill("3");
  await terms.locator('input[name="suspend_days"]').fill("90");
  await terms.getByTestId("save-wholesale-terms").click();
  await expect(admin.getByTestId("wholesale-terms-form").locator('input[name="suspend_days"]')).toHaveValue("90");
  await expect(admin.getByTestId("wholesale-terms-form").locator('input[name="due_days"]')).toHaveValue("7");
  const day = Number(await admin.locator('input[name="billing_cycle_day"]').inputValue());
  await admin.context().close();

  // The month ends (acme's period, by its billing day) and the platform bills it.
  const now = new Date(await serverNow(request));
  const [y, m] = [now.getUTCFullYear(), now.getUTCMonth()];
  const start = now.getUTCDate() >= day ? Date.UTC(y, m, day) : Date.UTC(y, m - 1, day);
  const next = now.getUTCDate() >= day ? Date.UTC(y, m + 1, day) : Date.UTC(y, m, day);
  const period = new Date(start).toISOString().slice(0, 7);
  await advanceClockTo(request, next + 10 * 60_000);
  await signInAdmin(page);
  await page.goto(at("admin.localhost", "/admin/billing"));
  await hydrated(page);
  await page.locator('input[name="period"]').fill(period);
  await page.locator('input[name="tenant"]').fill("acme");
  await page.getByTestId("run-billing").click();
  await expect(page.getByTestId("run-result")).toHaveText(`Billed 1 tenant(s) for ${period}.`);
  const bill = page.getByTestId("wholesale-invoice").filter({ hasText: "acme" }).filter({ hasText: period });
  await expect(bill).toHaveCount(1);
  const number = ((await bill.locator("td").nth(0).textContent()) ?? "").trim();
  expect(number).toMatch(/^WS-\d{6}$/);
  expect(minor(await bill.locator("td").nth(6).textContent())).toBeGreaterThanOrEqual(4_900);

  // Unpaid past its due date and the grace: the collection pass (here run by the admin) makes acme past due.
  await advanceClock(request, (7 + 3 + 1) * DAY_MS);
  admin = await adminOnAcme(browser);
  await admin.getByTestId("collect-now").click();
  await expect(admin.getByTestId("standing-status")).toHaveText("Past due");
  await admin.context().close();

  // Its customers cannot order, and are not told why.
  const before = errors.length;
  await customerOrders(page);
  await expect(page.getByText("not taking new orders", { exact: false })).toBeVisible();
  await expect(page).not.toHaveURL(/\/workspaces\//);
  expect(errors.splice(before)).toEqual(["Failed to load resource: the server responded with a status of 400 (Bad Request)"]);

  // The reseller is told on every management page, and pays every open wholesale invoice.
  const owner = await signInOwner(browser);
  await expect(owner.getByTestId("billing-status-banner")).toContainText("Your account is past due");
  await owner.goto(at(SHOP, "/manage/billing"));
  await hydrated(owner);
  await expect(owner.getByTestId("platform-billing")).toHaveAttribute("data-status", "past_due");
  await expect(owner.getByTestId("unpaid-wholesale").filter({ hasText: number })).toHaveCount(1);
  // The first payment also saves its card, which is then charged for whatever else is open at once: each
  // round leaves fewer open invoices.
  let open = await owner.getByTestId("unpaid-wholesale").count();
  expect(open).toBeGreaterThanOrEqual(1);
  while (open > 0) {
    await owner.getByTestId("pay-wholesale").first().click();
    await expect(owner).toHaveURL(/\/pay\/cs_/);
    await owner.locator("#pay").click();
    await expect(owner).toHaveURL(/\/manage\/billing\?platform_checkout=cs_/);
    await hydrated(owner);
    await expect(owner.getByTestId("platform-billing")).toBeVisible();
    const left = await owner.getByTestId("unpaid-wholesale").count();
    expect(left).toBeLessThan(open);
    open = left;
  }
  // Paid: in good standing at once, no notice, and the card the page saved is on file.
  await expect(owner.getByTestId("platform-billing")).toHaveAttribute("data-status", "active");
  await expect(owner.getByTestId("billing-status-notice")).toHaveCount(0);
  await expect(owner.getByTestId("platform-card")).toContainText("Card on file");
  await owner.context().close();

  // The storefront takes orders again.
  await customerOrders(page);
  await expect(page).toHaveURL(/\/workspaces\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("state")).toHaveText("Running", { timeout: 20_000 });
  await deleteWorkspace(page);
  admin = await adminOnAcme(browser);
  await expect(admin.getByTestId("standing-status")).toHaveText("Active");
  await admin.context().close();
  expect(errors).toEqual([]);
});
