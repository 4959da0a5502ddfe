import { test, expect } from "@playwright/test";

import { expectAccessible } from "./axe";
import { at, collectErrors, hydrated, mailLink } from "./helpers";
import {
  ADMIN_HOST,
  CUSTOMER_PAGES,
  SHOP,
  SIGNED_OUT_PAGES,
  openPage,
  walk,
  walkAsAdmin,
  walkAsStaff,
} from "./pages";

// axe-core on every page of every role on a desktop, early in the suite, so in their empty states: a
// customer who has just signed up (no workspace, no invoice, no credit), the demo reseller before anything
// is billed (no revenue, no invoice), the admin app before any wholesale invoice. The same pages full (a
// billed period) are scanned by zzz-accessible-billed.spec (desktop, with the keyboard-only journey) and
// zzz-phones-billed.spec (360 px); phones.spec scans them at 360 px as they are here.

const HOUSE = "127.0.0.1";

test("signed out: every storefront page, the management and admin sign-in pages, a missing page", async ({ page }) => {
  const errors = collectErrors(page);
  await walk(page, SHOP, SIGNED_OUT_PAGES, expectAccessible);
  await walk(page, HOUSE, ["/", "/login", "/signup"], expectAccessible);
  await openPage(page, ADMIN_HOST, "/admin/login");
  await expectAccessible(page);
  expect(errors).toEqual([]);
  // A form's error state: a wrong password (whose 401 the browser logs, as it does the 404 below).
  await page.getByLabel("Email").fill("admin@ezscale.test");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("error")).toBeVisible();
  await expectAccessible(page);
  expect(errors).toEqual(["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]);
  const missing = await page.goto(at(SHOP, "/no-such-page"));
  expect(missing?.status()).toBe(404);
  await hydrated(page);
  await expectAccessible(page);
});

test("a new customer, empty: sign up, confirm, and every page with nothing on it", async ({ page, browser }) => {
  const errors = collectErrors(page);
  const email = `a11y${Date.now()}@ezscale.test`;
  await openPage(page, HOUSE, "/signup");
  await page.getByLabel("Name").fill("Accessible Customer");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password (at least 10 characters)").fill("accessible-password-1");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("signup-done")).toBeVisible();
  await expectAccessible(page);

  await page.goto(await mailLink(browser, email, "/verify?token="));
  await hydrated(page);
  await expectAccessible(page);
  await page.getByTestId("confirm-email").click();
  await expect(page.getByTestId("email-confirmed")).toBeVisible();
  await expectAccessible(page);

  await openPage(page, HOUSE, "/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("accessible-password-1");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/workspaces$/);
  await walk(page, HOUSE, CUSTOMER_PAGES, expectAccessible);
  await openPage(page, HOUSE, "/workspaces");
  await expect(page.locator('a[href^="/workspaces/"]')).toHaveCount(0);
  await openPage(page, HOUSE, "/billing");
  await expect(page.getByTestId("invoice-row")).toHaveCount(0);
  expect(errors).toEqual([]);
});

test("the demo reseller's staff: every management page before anything is billed, a customer's page", async ({ page }) => {
  const errors = collectErrors(page);
  await walkAsStaff(page, expectAccessible);
  expect(errors).toEqual([]);
});

test("the platform admin: every page of the admin app", async ({ page }) => {
  const errors = collectErrors(page);
  await walkAsAdmin(page, expectAccessible);
  expect(errors).toEqual([]);
});
