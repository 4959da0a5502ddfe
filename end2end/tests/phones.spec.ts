import { test, expect } from "@playwright/test";

import { at, collectErrors, deleteWorkspace, hydrated } from "./helpers";
import {
  ADMIN_HOST,
  CUSTOMER,
  CUSTOMER_PAGES,
  OWNER,
  SHOP,
  SIGNED_OUT_PAGES,
  openPage,
  signInCustomer,
  signInStaff,
  walk,
  walkAsAdmin,
  walkAsStaff,
} from "./pages";
import { fitsAndAccessible } from "./axe";
import { PHONE, expectMenuByKeyboard, followMenuLink, navMenu, outsideViewport } from "./viewport";

// On a 360 px phone every page of every role fits: no link, button or field leaves the viewport, the
// page never scrolls sideways, axe-core finds nothing serious at this width either, and each frame's
// navigation folds into a "Menu" that works with the keyboard and before the app has loaded. And the management pages have a frame of their own (the staff
// member, the management pages, the storefront as customers see it), never the storefront's
// "Sign in / Sign up". Does not move the server's clock (zzz-phones-billed does, for the billed pages).

test.use({ viewport: PHONE });

test("signed out, every storefront page fits a phone and its menu works by keyboard and by tap", async ({ page }) => {
  const errors = collectErrors(page);
  await walk(page, SHOP, SIGNED_OUT_PAGES, fitsAndAccessible);
  await openPage(page, ADMIN_HOST, "/admin/login");
  await fitsAndAccessible(page);

  // "Sign up" was cut off at the right edge: now it is in the menu, inside the screen.
  await openPage(page, SHOP, "/");
  await expectMenuByKeyboard(page);
  await navMenu(page).toggle.click();
  await expect(navMenu(page).menu.getByRole("link", { name: "Sign up" })).toBeInViewport();
  await navMenu(page).toggle.click();
  expect(errors).toEqual([]);
  // Following a link of the open menu leaves it folded on the next page (the frame stays mounted).
  await followMenuLink(page, "Billing");
  await expect(page).toHaveURL(/\/billing$/);
  await expect(navMenu(page).menu).not.toHaveAttribute("open");
  await expect(navMenu(page).links.filter({ hasText: "Billing" })).toHaveAttribute("aria-current", "page");
  // Signed out, /billing asks to sign in; its data call's 401 is what the browser logs.
  await expect(page.getByRole("main").getByRole("link", { name: "Sign in" })).toBeVisible();
  expect(errors).toEqual(["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]);
  // Last: the browser reports a page's 404 as an error of its own.
  const missing = await page.goto(at(SHOP, "/no-such-page"));
  expect(missing?.status()).toBe(404);
  await hydrated(page);
  await fitsAndAccessible(page);
});

test("before the app has loaded, the menu opens and its links work", async ({ browser }) => {
  const signedIn = await browser.newContext({ viewport: PHONE });
  await signInStaff(await signedIn.newPage());
  const state = await signedIn.storageState();
  await signedIn.close();

  // The app's WebAssembly never arrives: the pages stay as the server sent them, never hydrated.
  const ctx = await browser.newContext({ viewport: PHONE, storageState: state });
  await ctx.route(/\.wasm$/, (route) => route.abort());
  const page = await ctx.newPage();
  for (const [path, link, next] of [
    ["/", "My workspaces", /\/workspaces$/],
    ["/manage", "Customers", /\/manage\/customers$/],
  ] as const) {
    await page.goto(at(SHOP, path));
    const { menu, toggle, links } = navMenu(page);
    await expect(toggle).toBeVisible();
    await expect(page.locator("html")).not.toHaveAttribute("data-hydrated", "true");
    await expect(links.first()).toBeHidden();
    await toggle.click();
    await expect(menu).toHaveAttribute("open", "");
    await expect(links.first()).toBeVisible();
    expect(await outsideViewport(page)).toEqual([]);
    await links.filter({ hasText: link }).click();
    await expect(page).toHaveURL(next);
  }
  await ctx.close();
});

test("a signed-in customer's pages fit a phone, a workspace's page too", async ({ page }) => {
  const errors = collectErrors(page);
  await signInCustomer(page);
  await walk(page, SHOP, CUSTOMER_PAGES, fitsAndAccessible);
  await expectMenuByKeyboard(page);
  await navMenu(page).toggle.click();
  await expect(page.getByTestId("signed-in-as")).toHaveText(CUSTOMER.name);
  await expect(page.getByTestId("signed-in-as")).toBeInViewport();

  // A workspace, running and stopped (each state has its own buttons).
  await openPage(page, SHOP, "/");
  await page.getByTestId("plan-developer-basic").getByRole("button", { name: "Order" }).click();
  await expect(page).toHaveURL(/\/workspaces\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("state")).toHaveText("Running", { timeout: 20_000 });
  await fitsAndAccessible(page);
  await page.getByTestId("stop").click();
  await expect(page.getByTestId("state")).toHaveText("Stopped");
  await fitsAndAccessible(page);
  await openPage(page, SHOP, "/workspaces");
  await fitsAndAccessible(page);
  await page.locator('a[href^="/workspaces/"]').first().click();
  await expect(page.getByTestId("state")).toHaveText("Stopped");
  await deleteWorkspace(page);
  expect(errors).toEqual([]);
});

test("every management page fits a phone, a customer's page too", async ({ page }) => {
  const errors = collectErrors(page);
  await walkAsStaff(page, fitsAndAccessible);
  await expectMenuByKeyboard(page);
  // Who is signed in, and the storefront, are in the menu on a phone.
  await navMenu(page).toggle.click();
  await expect(page.getByTestId("staff-signed-in")).toBeInViewport();
  await expect(page.getByTestId("view-storefront")).toBeInViewport();
  await followMenuLink(page, "Staff");
  await expect(page).toHaveURL(/\/manage\/staff$/);
  await expect(page.getByRole("heading", { name: "Staff" })).toBeVisible();
  expect(errors).toEqual([]);
});

test("every page of the admin app fits a phone, a tenant's page too", async ({ page }) => {
  const errors = collectErrors(page);
  await walkAsAdmin(page, fitsAndAccessible);
  await expectMenuByKeyboard(page);
  await followMenuLink(page, "Audit log");
  await expect(page).toHaveURL(/\/admin\/audit$/);
  await expect(navMenu(page).links.filter({ hasText: "Audit log" })).toHaveAttribute("aria-current", "page");
  expect(errors).toEqual([]);
});

test.describe("on a desktop", () => {
  test.use({ viewport: { width: 1280, height: 800 } });

  test("the management pages have their own frame: the staff member, the management pages, the storefront", async ({ page }) => {
    const errors = collectErrors(page);
    // Before signing in: the management side, a way to the storefront, and nothing of the storefront's.
    await openPage(page, SHOP, "/manage/login");
    await expect(page.getByTestId("manage-frame")).toBeVisible();
    await expect(page.getByTestId("view-storefront")).toBeVisible();
    await expect(page.getByRole("link", { name: "Sign up" })).toHaveCount(0);
    await expect(page.getByRole("link", { name: "My workspaces" })).toHaveCount(0);

    await signInStaff(page);
    await openPage(page, SHOP, "/manage/customers");
    const frame = page.getByTestId("manage-frame");
    // Unfolded on a wide screen: no "Menu", every management page in view, this one marked.
    await expect(navMenu(page).toggle).toBeHidden();
    const nav = page.getByTestId("manage-nav");
    for (const name of ["Overview", "Customers", "Catalogue", "Billing", "Branding", "Staff", "Domains", "Guide"]) {
      await expect(nav.getByRole("link", { name, exact: true })).toBeVisible();
    }
    await expect(nav.getByRole("link", { name: "Customers" })).toHaveAttribute("aria-current", "page");
    await expect(page.locator('[aria-current="page"]')).toHaveCount(1);
    const who = page.getByTestId("staff-signed-in");
    await expect(who).toContainText(OWNER.email);
    await expect(who).toContainText("Owner");
    await expect(frame.getByRole("button", { name: "Sign out", exact: true })).toBeVisible();
    await expect(page.getByRole("link", { name: "Sign in", exact: true })).toHaveCount(0);
    await expect(page.getByRole("link", { name: "Sign up" })).toHaveCount(0);
    await expect(page.getByRole("link", { name: "My workspaces" })).toHaveCount(0);

    // Moving between management pages keeps the frame and moves the mark.
    await nav.getByRole("link", { name: "Billing" }).click();
    await expect(page).toHaveURL(/\/manage\/billing$/);
    await expect(nav.getByRole("link", { name: "Billing" })).toHaveAttribute("aria-current", "page");
    await expect(nav.getByRole("link", { name: "Customers" })).not.toHaveAttribute("aria-current", "page");

    // "View storefront" shows the storefront as a customer sees it, in its own frame.
    await page.getByTestId("view-storefront").click();
    await expect(page).toHaveURL(at(SHOP, "/"));
    await hydrated(page);
    await expect(page.getByTestId("manage-frame")).toHaveCount(0);
    await expect(page.locator("header").getByRole("link", { name: "Sign up" })).toBeVisible();

    // Signing out from the frame ends the session.
    await openPage(page, SHOP, "/manage/staff");
    await page.getByTestId("manage-frame").getByRole("button", { name: "Sign out", exact: true }).click();
    await expect(page).toHaveURL(/\/manage\/login$/);
    await openPage(page, SHOP, "/manage/staff");
    await expect(page.getByTestId("manage-nav")).toHaveCount(0);
    await expect(page.getByRole("link", { name: "sign in as staff" })).toBeVisible();
    expect(errors).toEqual([]);
  });
});
