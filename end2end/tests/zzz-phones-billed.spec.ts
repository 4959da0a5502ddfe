import { test, expect } from "@playwright/test";

import { fitsAndAccessible } from "./axe";
import { billingPeriod, billPeriod, collectErrors, deleteWorkspace } from "./helpers";
import {
  CUSTOMER_PAGES,
  SHOP,
  openPage,
  signInCustomer,
  walk,
  walkAsAdmin,
  walkAsStaff,
} from "./pages";
import { PHONE } from "./viewport";

// The pages of phones.spec again, once there is something billed on them: the demo reseller's customer
// runs a workspace, the period ends (the server's clock moves, so this runs after every other journey)
// and is billed; then the customer's invoice, their billing page, the staff's pages about them and the
// admin's pages must still fit a 360 px phone, and pass axe-core at that width.

test.describe.configure({ mode: "serial" });
test.use({ viewport: PHONE });

let invoicePath = "";

test("a period of the demo reseller's customer is billed", async ({ page, browser, request }) => {
  const errors = collectErrors(page);
  await signInCustomer(page);
  await openPage(page, SHOP, "/");
  await page.getByTestId("plan-developer-basic").getByRole("button", { name: "Order" }).click();
  await expect(page.getByTestId("state")).toHaveText("Running", { timeout: 20_000 });
  await page.getByTestId("stop").click();
  await expect(page.getByTestId("state")).toHaveText("Stopped");
  await deleteWorkspace(page);
  await openPage(page, SHOP, "/billing");
  const { key: period, nextStart } = await billingPeriod(page);
  await billPeriod(browser, request, "acme", period, nextStart);

  // The customer's invoice for it.
  await signInCustomer(page);
  await openPage(page, SHOP, "/billing");
  const row = page.getByTestId("invoice-row").filter({ hasText: period });
  await expect(row).toHaveCount(1);
  invoicePath = (await row.locator('a[href^="/invoices/"]').first().getAttribute("href")) ?? "";
  expect(invoicePath).toMatch(/^\/invoices\/.+/);
  expect(errors).toEqual([]);
});

test("billed: the customer's invoice and pages fit a phone", async ({ page }) => {
  expect(invoicePath).not.toBe("");
  const errors = collectErrors(page);
  await signInCustomer(page);
  await walk(page, SHOP, [...CUSTOMER_PAGES, invoicePath], fitsAndAccessible);
  await expect(page.getByTestId("invoice")).toBeVisible();
  expect(errors).toEqual([]);
});

test("billed: every management page fits a phone, the billed customer's page too", async ({ page }) => {
  const errors = collectErrors(page);
  await walkAsStaff(page, fitsAndAccessible);
  await expect(page.getByTestId("customer-invoice").first()).toBeVisible();
  expect(errors).toEqual([]);
});

test("billed: every page of the admin app fits a phone", async ({ page }) => {
  const errors = collectErrors(page);
  await walkAsAdmin(page, fitsAndAccessible);
  expect(errors).toEqual([]);
});
