import { test, expect, Locator, Page } from "@playwright/test";

import { expectAccessible } from "./axe";
import { at, billingPeriod, billPeriod, collectErrors, deleteWorkspace, hydrated } from "./helpers";
import {
  ADMIN_HOST,
  CUSTOMER,
  CUSTOMER_PAGES,
  SHOP,
  openPage,
  walk,
  walkAsAdmin,
  walkAsStaff,
} from "./pages";

// The keyboard-only journey: the demo reseller's customer signs in, orders a workspace, stops it and,
// once the period is billed, opens its invoice, with nothing but Tab, typing and Enter, and a visible
// focus indicator on every element focus reaches on the way. Then axe-core on every page of every role
// in their full state (a billed period: invoices, revenue, wholesale). Moves the server's clock, so it
// runs after the other journeys (zzz-phones-billed moves it again, from wherever this leaves it).

test.describe.configure({ mode: "serial" });

let invoicePath = "";

/** What is wrong with the focused element's focus indicator: nothing focused, or no outline, no ring
 * (box shadow) and no drawn ring of its own (a chart's bar group draws one: its `…focus-ring` shape, shown
 * only while the group has focus). */
async function focusProblem(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return "nothing has focus";
    const s = getComputedStyle(el);
    const outline = s.outlineStyle !== "none" && s.outlineWidth !== "0px";
    const ring = s.boxShadow !== "none";
    const drawn = el.querySelector('[data-testid$="focus-ring"]');
    const drawnShown = drawn !== null && getComputedStyle(drawn).visibility === "visible";
    if (outline || ring || drawnShown) return "";
    const label = (el.innerText || el.getAttribute("aria-label") || el.getAttribute("name") || "").trim().slice(0, 40);
    return `<${el.tagName.toLowerCase()}> "${label}" shows no focus (outline ${s.outlineStyle} ${s.outlineWidth}, no ring)`;
  });
}

/** Presses Tab until `target` has focus (at most `max` times), checking at each stop that the focus can
 * be seen. */
async function tabTo(page: Page, target: Locator, max = 60) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    expect(await focusProblem(page), `after ${i + 1} Tab presses`).toBe("");
    if (await target.evaluate((el) => el === document.activeElement)) return;
  }
  throw new Error(`not reached with ${max} Tab presses: ${target}`);
}

/** Signs the demo reseller's customer in by keyboard alone, from the storefront's home page. */
async function signInByKeyboard(page: Page) {
  await page.goto(at(SHOP, "/"));
  await hydrated(page);
  await tabTo(page, page.locator("header").getByRole("link", { name: "Sign in", exact: true }));
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/login$/);
  await hydrated(page);
  await tabTo(page, page.getByLabel("Email"));
  await page.keyboard.type(CUSTOMER.email);
  await page.keyboard.press("Tab");
  await expect(page.getByLabel("Password")).toBeFocused();
  expect(await focusProblem(page)).toBe("");
  await page.keyboard.type(CUSTOMER.password);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/workspaces$/);
  await hydrated(page);
}

test("keyboard only: sign in, order, stop, and open the invoice", async ({ page, browser, request }) => {
  const errors = collectErrors(page);
  await signInByKeyboard(page);

  // Order from the catalogue.
  await tabTo(page, page.locator("header").getByRole("link", { name: "Catalog" }));
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(at(SHOP, "/"));
  await expect(page.getByText("Loading…")).toHaveCount(0);
  await tabTo(page, page.getByTestId("plan-developer-basic").getByRole("button", { name: "Order" }));
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/workspaces\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("state")).toHaveText("Running", { timeout: 20_000 });

  // Stop it.
  await tabTo(page, page.getByTestId("stop"));
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("state")).toHaveText("Stopped");
  // Kasm counts a stopped workspace among the customer's sessions: leave none behind.
  await deleteWorkspace(page);
  await openPage(page, SHOP, "/billing");
  const { key: period, nextStart } = await billingPeriod(page);

  // The period ends and the platform bills it (the admin, in a browser of their own).
  await billPeriod(browser, request, "acme", period, nextStart);

  // A day and more later the session has ended: sign in again, all by keyboard, and open the invoice.
  await signInByKeyboard(page);
  await tabTo(page, page.locator("header").getByRole("link", { name: "Billing" }));
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/billing$/);
  const row = page.getByTestId("invoice-row").filter({ hasText: period });
  await expect(row).toHaveCount(1);
  const link = row.locator('a[href^="/invoices/"]').first();
  invoicePath = (await link.getAttribute("href")) ?? "";
  await tabTo(page, link);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(at(SHOP, invoicePath));
  await expect(page.getByTestId("invoice")).toBeVisible();
  await expect(page.getByTestId("invoice")).toContainText(period);
  expect(errors).toEqual([]);
});

test("billed: every customer page and the invoice pass axe-core", async ({ page }) => {
  expect(invoicePath).toMatch(/^\/invoices\/.+/);
  const errors = collectErrors(page);
  await signInByKeyboard(page);
  await walk(page, SHOP, [...CUSTOMER_PAGES, invoicePath], expectAccessible);
  await openPage(page, SHOP, "/billing");
  await expect(page.getByTestId("invoice-row").first()).toBeVisible();
  expect(errors).toEqual([]);
});

test("billed: every management page and the billed customer's page pass axe-core", async ({ page }) => {
  const errors = collectErrors(page);
  await walkAsStaff(page, expectAccessible);
  await expect(page.getByTestId("customer-invoice").first()).toBeVisible();
  expect(errors).toEqual([]);
});

test("billed: every page of the admin app passes axe-core", async ({ page }) => {
  const errors = collectErrors(page);
  await walkAsAdmin(page, expectAccessible);
  await openPage(page, ADMIN_HOST, "/admin/billing");
  await expect(page.getByTestId("wholesale-invoice").first()).toBeVisible();
  expect(errors).toEqual([]);
});
