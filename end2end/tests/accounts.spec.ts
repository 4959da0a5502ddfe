import { test, expect, Page } from "@playwright/test";

import { at, hydrated, mailLink } from "./helpers";

// Customer accounts in a real browser: sign up, open the verification link from the delivered email,
// sign in and out; a password reset end to end; repeated wrong passwords throttled.
//
// Without an SMTP server (the development default) mail is delivered to the outbox, which the platform
// admin reads at /admin/mail: that is where this test picks up its links.

const house = (path: string) => at("127.0.0.1", path);

async function signIn(page: Page, email: string, password: string) {
  await page.goto(house("/login"));
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("sign up, confirm from the email, sign in and out; reset the password; get throttled", async ({ page, browser }) => {
  const email = `e2e${Date.now()}@ezscale.test`;

  // Sign up.
  await page.goto(house("/signup"));
  await hydrated(page);
  await page.getByLabel("Name").fill("Playwright Customer");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password (at least 10 characters)").fill("first-password-123");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("signup-done")).toBeVisible();

  // Open the verification link from the delivered email and confirm.
  const verify = await mailLink(browser, email, "/verify?token=");
  await page.goto(verify);
  await hydrated(page);
  await page.getByTestId("confirm-email").click();
  await expect(page.getByTestId("email-confirmed")).toBeVisible();

  // Sign in, see the account, sign out.
  await signIn(page, email, "first-password-123");
  await expect(page).toHaveURL(/\/workspaces$/);
  await expect(page.getByTestId("signed-in-as")).toHaveText("Playwright Customer");
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("link", { name: "Sign in", exact: true })).toBeVisible();

  // Forgotten password: the reset link arrives, sets a new password, and the old one stops working.
  await page.goto(house("/forgot"));
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Email me a reset link" }).click();
  await expect(page.getByTestId("reset-sent")).toBeVisible();
  const reset = await mailLink(browser, email, "/reset?token=");
  await page.goto(reset);
  await hydrated(page);
  await page.getByLabel("New password (at least 10 characters)").fill("second-password-456");
  await page.getByRole("button", { name: "Set password" }).click();
  await expect(page.getByTestId("password-reset")).toBeVisible();
  await signIn(page, email, "first-password-123");
  await expect(page.getByTestId("error")).toContainText("do not match");
  await signIn(page, email, "second-password-456");
  await expect(page).toHaveURL(/\/workspaces$/);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("link", { name: "Sign in", exact: true })).toBeVisible();

  // Repeated wrong passwords are throttled (and then even the right one has to wait).
  await page.goto(house("/login"));
  await hydrated(page);
  for (let i = 0; i < 12; i++) {
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(`wrong-${i}`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByTestId("error")).toBeVisible();
    if ((await page.getByTestId("error").textContent())?.includes("Too many attempts")) break;
  }
  await expect(page.getByTestId("error")).toContainText("Too many attempts");
  await page.getByLabel("Password").fill("second-password-456");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("error")).toContainText("Too many attempts");
});
