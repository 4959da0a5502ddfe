import { expect, Page } from "@playwright/test";

import { at, hydrated, signInAdmin } from "./helpers";

// Every page of every role, on the demo reseller's storefront (acme) and the admin app, with the demo
// accounts of `make run`: for journeys that walk all of them (the phone check, an accessibility scan).
// Pages that need a record (a workspace, a customer, an invoice) are reached by the journey itself.

export const SHOP = "acme.localhost";
export const ADMIN_HOST = "admin.localhost";

export const CUSTOMER = { email: "customer@acme.test", password: "customer-password", name: "Acme Customer" };
export const OWNER = { email: "owner@acme.test", password: "owner-password" };

/** Pages anyone may open on a storefront (tokens absent: the pages say the link is incomplete). */
export const SIGNED_OUT_PAGES = [
  "/",
  "/login",
  "/signup",
  "/forgot",
  "/reset",
  "/verify",
  "/confirm-email",
  "/manage/login",
  "/manage/forgot",
  "/manage/accept",
  "/manage/set-password",
];

/** A signed-in customer's pages, besides one workspace's page and one invoice. */
export const CUSTOMER_PAGES = ["/", "/workspaces", "/billing", "/account"];

/** Every management page, besides one customer's page. */
export const STAFF_PAGES = [
  "/manage",
  "/manage/customers",
  "/manage/catalog",
  "/manage/billing",
  "/manage/branding",
  "/manage/staff",
  "/manage/domains",
  "/manage/guide",
];

/** Every page of the admin app (the demo reseller's page among them). */
export const ADMIN_PAGES = [
  "/admin",
  "/admin/tenants/new",
  "/admin/tenants/acme",
  "/admin/audit",
  "/admin/mail",
  "/admin/provisioning",
  "/admin/kasm",
  "/admin/databases",
  "/admin/billing",
  "/admin/prices",
];

/** What a walk does on each page it opens: a viewport check, an accessibility scan, or both. */
export type PageCheck = (page: Page) => Promise<void>;

/** Opens each of `paths` on `host` in turn and runs `check` on it. */
export async function walk(page: Page, host: string, paths: readonly string[], check: PageCheck) {
  for (const path of paths) {
    await openPage(page, host, path);
    await check(page);
  }
}

/** Opens `path` on `host` and waits until it is hydrated and its data has arrived. */
export async function openPage(page: Page, host: string, path: string) {
  await page.goto(at(host, path));
  await hydrated(page);
  await expect(page.getByText("Loading…")).toHaveCount(0);
}

export async function signInCustomer(page: Page, host = SHOP, who = CUSTOMER) {
  await page.goto(at(host, "/login"));
  await hydrated(page);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/workspaces$/);
}

export async function signInStaff(page: Page, host = SHOP, who = OWNER) {
  await page.goto(at(host, "/manage/login"));
  await hydrated(page);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/manage\/branding$/);
}

/** From the staff's directory, the page of the customer `email`. */
export async function openCustomerFile(page: Page, email: string) {
  await openPage(page, SHOP, `/manage/customers?q=${encodeURIComponent(email)}`);
  const row = page.getByTestId("customer-row").filter({ hasText: email });
  await expect(row).toHaveCount(1);
  await row.getByRole("link").first().click();
  await expect(page).toHaveURL(/\/manage\/customers\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("customer-name")).toBeVisible();
}

/** Signs the demo reseller's owner in and runs `check` on every management page, then on the demo
 * customer's page (which it leaves open). */
export async function walkAsStaff(page: Page, check: PageCheck) {
  await signInStaff(page);
  await walk(page, SHOP, STAFF_PAGES, check);
  await openCustomerFile(page, CUSTOMER.email);
  await check(page);
}

/** Signs the platform admin in and runs `check` on every page of the admin app. */
export async function walkAsAdmin(page: Page, check: PageCheck) {
  await signInAdmin(page);
  await walk(page, ADMIN_HOST, ADMIN_PAGES, check);
}
