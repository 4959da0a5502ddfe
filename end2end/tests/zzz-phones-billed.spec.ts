import { test, expect } from "@playwright/test";

import { advanceClockTo, billingPeriod, collectErrors, deleteWorkspace, signInAdmin } from "./helpers";
import {
  ADMIN_HOST,
  ADMIN_PAGES,
  CUSTOMER,
  CUSTOMER_PAGES,
  SHOP,
  STAFF_PAGES,
  openCustomerFile,
  openPage,
  signInCustomer,
  signInStaff,
} from "./pages";
import { PHONE, expectWithinViewport } from "./viewport";

// The pages of phones.spec again, once there is something billed on them: the demo reseller's customer
// runs a workspace, the period ends (the server's clock moves, so this runs after every other journey)
// and is billed; then the customer's invoice, their billing page, the staff's pages about them and the
// admin's pages must still fit a 360 px phone.

test.describe.configure({ mode: "serial" });
test.use({ viewport: PHONE });

let invoicePath = "";

test("a period of the demo reseller's customer is billed", async ({ page, request }) => {
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

  await advanceClockTo(request, nextStart + 10 * 60 * 1000);
  await signInAdmin(page);
  await openPage(page, ADMIN_HOST, "/admin/billing");
  await page.locator('input[name="period"]').fill(period);
  await page.locator('input[name="tenant"]').fill("acme");
  await page.getByTestId("run-billing").click();
  await expect(page.getByTestId("run-result")).toContainText("Billed 1 tenant");

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
  for (const path of [...CUSTOMER_PAGES, invoicePath]) {
    await openPage(page, SHOP, path);
    await expectWithinViewport(page);
  }
  await expect(page.getByTestId("invoice")).toBeVisible();
  expect(errors).toEqual([]);
});

test("billed: every management page fits a phone, the billed customer's page too", async ({ page }) => {
  const errors = collectErrors(page);
  await signInStaff(page);
  for (const path of STAFF_PAGES) {
    await openPage(page, SHOP, path);
    await expectWithinViewport(page);
  }
  await openCustomerFile(page, CUSTOMER.email);
  await expect(page.getByTestId("customer-invoice").first()).toBeVisible();
  await expectWithinViewport(page);
  expect(errors).toEqual([]);
});

test("billed: every page of the admin app fits a phone", async ({ page }) => {
  const errors = collectErrors(page);
  await signInAdmin(page);
  for (const path of ADMIN_PAGES) {
    await openPage(page, ADMIN_HOST, path);
    await expectWithinViewport(page);
  }
  expect(errors).toEqual([]);
});
