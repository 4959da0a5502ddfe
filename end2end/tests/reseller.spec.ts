import { test, expect } from "@playwright/test";

import { startDns, Dns } from "./dns";
import { at, hydrated, signInAdmin } from "./helpers";

// A new reseller runs their business without the platform's help: the admin creates the storefront
// (never knowing the owner's password); the owner chooses it from the welcome email, adds their own
// domain and verifies it against their DNS (a real DNS server this test runs), and hides a plan, which
// vanishes from their storefront.

let dns: Dns;
test.beforeAll(async () => {
  dns = await startDns();
});
test.afterAll(async () => {
  await dns.close();
});

test("a new reseller sets a password, verifies their own domain and hides a plan", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const slug = `orbit${Date.now() % 100000}`;
  const owner = `owner@${slug}.test`;
  const domain = `${slug}.ezscale.test`;

  // The platform admin creates the storefront: there is no password field.
  await signInAdmin(page);
  await page.getByTestId("new-tenant").click();
  await hydrated(page);
  const form = page.getByTestId("new-tenant-form");
  await expect(form.locator('input[type="password"]')).toHaveCount(0);
  await form.locator('input[name="name"]').fill("Orbit Desktops");
  await form.locator('input[name="slug"]').fill(slug);
  await form.locator('input[name="owner_email"]').fill(owner);
  await page.getByTestId("create-tenant").click();
  await expect(page).toHaveURL(new RegExp(`/admin/tenants/${slug}$`), { timeout: 20_000 });

  // The welcome email (the admin's outbox view is the inbox in development) leads to the owner's page.
  let welcome = "";
  await expect
    .poll(
      async () => {
        await page.goto(at("admin.localhost", "/admin/mail"));
        const mail = page.locator(`[data-testid="mail"][data-to="${owner}"][data-kind="staff_welcome"]`).first();
        if ((await mail.count()) === 0) return "";
        const m = ((await mail.getByTestId("mail-text").textContent()) ?? "").match(
          /https?:\/\/\S*\/manage\/set-password\?token=\S+/,
        );
        welcome = m ? m[0] : "";
        return welcome;
      },
      { timeout: 20_000 },
    )
    .not.toBe("");
  const link = new URL(welcome);
  await page.goto(at(link.hostname, link.pathname + link.search));
  await hydrated(page);
  await page.getByLabel("New password (at least 12 characters)").fill("orbit-owner-password");
  await page.getByTestId("set-password").click();
  await expect(page).toHaveURL(/\/manage$/);
  await expect(page.getByTestId("onboarding-progress")).toHaveText("1 of 7 steps done");

  // Their own domain: add it, publish the TXT record the page shows, check now.
  await page.locator('[data-step="domain"] a').click();
  await expect(page).toHaveURL(/\/manage\/domains$/);
  await hydrated(page);
  await page.locator('[data-testid="add-my-domain"] input[name="domain"]').fill(domain);
  await page.locator('[data-testid="add-my-domain"] input[name="primary"]').check();
  await page.getByTestId("add-domain").click();
  const row = page.locator(`[data-testid="my-domain"][data-domain="${domain}"]`);
  await expect(row.getByTestId("domain-state")).toHaveAttribute("data-verified", "false");
  const txtName = (await row.getByTestId("txt-name").textContent()) ?? "";
  const txtValue = (await row.getByTestId("txt-value").textContent()) ?? "";
  expect(txtName).toBe(`_ezscale-verify.${domain}`);
  // Not published yet: the reason, and nothing routed.
  await row.getByTestId("check-now").click();
  await expect(page.getByTestId("check-result")).toContainText("not verified yet");
  dns.publishTxt(txtName, txtValue);
  await row.getByTestId("check-now").click();
  await expect(page.getByTestId("check-result")).toContainText("is verified");
  await expect(row.getByTestId("domain-state")).toHaveAttribute("data-verified", "true");
  // The storefront answers on it.
  const shop = await page.context().newPage();
  await shop.goto(at(domain, "/"));
  await expect(shop.getByTestId("brand-name")).toHaveText("Orbit Desktops");
  await expect(shop.getByTestId("plan-developer-basic")).toBeVisible();

  // Their own catalogue: hide a plan and it vanishes from the storefront.
  await page.goto(at(domain, "/manage/login"));
  await hydrated(page);
  await page.getByLabel("Email").fill(owner);
  await page.getByLabel("Password").fill("orbit-owner-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  // Signed in (the sign-in page moves on by itself once the session cookie is set).
  await expect(page).toHaveURL(/\/manage\/branding$/);
  await page.goto(at(domain, "/manage/catalog"));
  await hydrated(page);
  const plan = page.locator('[data-testid="catalog-plan"][data-code="developer-basic"]');
  await plan.getByTestId("visible").uncheck();
  await plan.getByTestId("save-listing").click();
  await expect(page.getByTestId("listing-saved")).toBeVisible();
  await expect(page.locator('[data-testid="catalog-plan"][data-code="developer-basic"]')).toHaveAttribute(
    "data-shown",
    "false",
  );
  await shop.goto(at(domain, "/"));
  await expect(shop.getByTestId("plan-business-basic")).toBeVisible();
  await expect(shop.getByTestId("plan-developer-basic")).toHaveCount(0);

  // The checklist ticked the domain by itself.
  await page.goto(at(domain, "/manage"));
  await expect(page.locator('[data-testid="onboarding-step"][data-step="domain"]')).toHaveAttribute("data-done", "true");
  expect(errors).toEqual([]);
});
