import { test, expect } from "@playwright/test";

import { at, collectErrors, hydrated, signInAdmin } from "./helpers";

// White-label end to end: the platform admin creates a reseller with its own domain, never knowing the
// owner's password; the owner chooses it from the welcome email and finds the onboarding checklist; that
// domain serves the default brand; the reseller previews a new primary colour live, saves it, and the
// storefront shows it — while another reseller's storefront is unchanged.
//
// Hosts: *.localhost resolves to the loopback address in Chromium by itself; *.ezscale.test is mapped
// to 127.0.0.1 by the --host-resolver-rules flag in playwright.config.ts.

const DEFAULT_PRIMARY = "rgb(79, 70, 229)"; // #4f46e5
const NEW_PRIMARY = "#0f766e";
const NEW_PRIMARY_RGB = "rgb(15, 118, 110)";

test("admin creates a reseller; the reseller rebrands with a live preview; others are untouched", async ({ page }) => {
  const errors = collectErrors(page);
  const slug = `nimbus${Date.now() % 100000}`;
  const domain = `${slug}.ezscale.test`;

  // The platform admin signs in on the admin host and creates the tenant with its domain.
  await signInAdmin(page);
  await expect(page.locator('[data-testid="tenant-row"][data-slug="acme"]')).toBeVisible();

  await page.getByTestId("new-tenant").click();
  await hydrated(page);
  const form = page.getByTestId("new-tenant-form");
  await form.locator('input[name="name"]').fill("Nimbus Cloud");
  await form.locator('input[name="slug"]').fill(slug);
  await form.locator('input[name="owner_email"]').fill(`owner@${domain}`);
  await form.locator('input[name="primary_domain"]').fill(domain);
  await page.getByTestId("create-tenant").click();
  await expect(page).toHaveURL(new RegExp(`/admin/tenants/${slug}$`), { timeout: 20_000 });
  await expect(page.getByTestId("tenant-status")).toHaveText("Active");
  const row = page.locator(`[data-testid="domain-row"][data-domain="${domain}"]`);
  await expect(row.getByTestId("domain-verified")).toHaveText("Not verified");
  await expect(page.getByTestId("owner-password-state")).toHaveText("Not chosen yet");

  // The owner's welcome email (in development without SMTP, the admin's outbox view is the inbox) links
  // to their storefront's page for choosing a password.
  let welcome = "";
  await expect
    .poll(
      async () => {
        await page.goto(at("admin.localhost", "/admin/mail"));
        const mail = page.locator(`[data-testid="mail"][data-to="owner@${domain}"][data-kind="staff_welcome"]`).first();
        if ((await mail.count()) === 0) return "";
        const text = (await mail.getByTestId("mail-text").textContent()) ?? "";
        const m = text.match(/https?:\/\/\S*\/manage\/set-password\?token=\S+/);
        welcome = m ? m[0] : "";
        return welcome;
      },
      { timeout: 20_000 },
    )
    .not.toBe("");
  const link = new URL(welcome);
  expect(link.hostname).toBe(`${slug}.localhost`);
  await page.goto(at(link.hostname, link.pathname + link.search));
  await hydrated(page);
  await page.getByLabel("New password (at least 12 characters)").fill("nimbus-owner-password");
  await page.getByTestId("set-password").click();
  await expect(page).toHaveURL(/\/manage$/);
  await expect(page.getByTestId("onboarding-progress")).toHaveText("1 of 7 steps done");
  await expect(page.locator('[data-testid="onboarding-step"][data-step="password"]')).toHaveAttribute("data-done", "true");
  await expect(page.locator('[data-testid="onboarding-step"][data-step="domain"]')).toHaveAttribute("data-done", "false");
  await page.goto(at("admin.localhost", `/admin/tenants/${slug}`));
  await expect(page.getByTestId("owner-password-state")).toHaveText("Chosen");

  // Not routed until verified; then it is.
  // (Through the browser: only Chromium maps *.ezscale.test to this machine.)
  const probePage = await page.context().newPage();
  const probe = await probePage.goto(at(domain, "/"));
  expect(probe?.status()).toBe(404);
  await row.getByTestId("mark-verified").click();
  await expect(row.getByTestId("domain-verified")).toHaveText("Verified");

  // The reseller's own domain shows the default brand.
  await page.goto(at(domain, "/"));
  await expect(page.getByTestId("brand-name")).toHaveText("Nimbus Cloud");
  await expect(page.getByTestId("brand-name")).toHaveCSS("color", DEFAULT_PRIMARY);

  // The reseller signs in and edits the primary colour: the preview changes before anything is saved.
  await page.goto(at(domain, "/manage/login"));
  await hydrated(page);
  await page.getByLabel("Email").fill(`owner@${domain}`);
  await page.getByLabel("Password").fill("nimbus-owner-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/manage\/branding$/);
  await hydrated(page);
  const preview = page.getByTestId("brand-preview");
  await expect(preview.getByTestId("preview-button")).toHaveCSS("background-color", DEFAULT_PRIMARY);

  // A colour too light for white text on it is flagged (WCAG 4.5:1).
  await page.getByTestId("primary-input").fill("#ffff66");
  await expect(page.getByTestId("contrast-warning")).toBeVisible();
  await page.getByTestId("primary-input").fill(NEW_PRIMARY);
  await expect(page.getByTestId("contrast-warning")).toHaveCount(0);
  await expect(preview.getByTestId("preview-button")).toHaveCSS("background-color", NEW_PRIMARY_RGB);
  await page.locator('input[name="company_name"]').fill("Nimbus Cloud Desktops");
  await expect(preview.getByTestId("preview-name")).toHaveText("Nimbus Cloud Desktops");
  // Custom CSS is previewed as it will be saved (checked and scoped by the server), on the preview only.
  await page.getByTestId("custom-css").fill(":root { --gap: 3px } span { letter-spacing: var(--gap) }");
  await expect(page.getByTestId("custom-css-preview-status")).toHaveText(
    "The preview shows your custom CSS as it will be saved.",
  );
  await expect(preview.getByTestId("preview-name")).toHaveCSS("letter-spacing", "3px");
  await expect(page.getByTestId("brand-name")).toHaveCSS("letter-spacing", "normal");
  // Not saved yet: the storefront still has the old colour.
  const before = await probePage.goto(at(domain, "/brand/theme.css"));
  expect(await before?.text()).toContain("--brand-primary:#4f46e5");

  await page.getByTestId("save-branding").click();
  await expect(page.getByTestId("saved")).toBeVisible();

  // Every page of this storefront now uses it.
  await page.goto(at(domain, "/"));
  await expect(page.getByTestId("brand-name")).toHaveText("Nimbus Cloud Desktops");
  await expect(page.getByTestId("brand-name")).toHaveCSS("color", NEW_PRIMARY_RGB);
  await page.goto(at(`${slug}.localhost`, "/login"));
  await expect(page.getByTestId("brand-name")).toHaveCSS("color", NEW_PRIMARY_RGB);

  // Another reseller is unchanged.
  await page.goto(at("acme.localhost", "/"));
  await expect(page.getByTestId("brand-name")).toHaveText("Acme Cloud");
  await expect(page.getByTestId("brand-name")).toHaveCSS("color", DEFAULT_PRIMARY);

  expect(errors.filter((e) => !e.includes("favicon"))).toEqual([]);
});
