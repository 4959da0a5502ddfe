import { expect, Page, Browser, APIRequestContext } from "@playwright/test";

// What several journeys share: addresses on the test server, waiting for hydration, signing in as the
// platform admin, reading delivered mail from the admin's outbox view, amounts as minor units, and the
// server's movable clock (TEST_CLOCK=true in the Makefile's e2e target).

export const BASE = process.env.BASE_URL ?? "http://127.0.0.1:3000";
export const PORT = new URL(BASE).port || "3000";

/** `path` on the storefront (or admin app) answering at `host`. */
export const at = (host: string, path: string) => `http://${host}:${PORT}${path}`;

export async function hydrated(page: Page) {
  await expect(page.locator("html")).toHaveAttribute("data-hydrated", "true", { timeout: 20_000 });
}

export async function signInAdmin(page: Page) {
  await page.goto(at("admin.localhost", "/admin/login"));
  await hydrated(page);
  await page.getByLabel("Email").fill("admin@ezscale.test");
  await page.getByLabel("Password").fill("admin-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("tenant-list")).toBeVisible();
}

/** The newest link to `path` in mail sent to `to`, read from the admin's outbox view (the development
 * inbox when no SMTP server is configured), in a browser context of its own. */
export async function mailLink(browser: Browser, to: string, path: string): Promise<string> {
  const ctx = await browser.newContext();
  const admin = await ctx.newPage();
  await signInAdmin(admin);
  let link = "";
  await expect
    .poll(
      async () => {
        await admin.goto(at("admin.localhost", "/admin/mail"));
        const mail = admin.locator(`[data-testid="mail"][data-to="${to}"]`).first();
        if ((await mail.count()) === 0) return "";
        const text = (await mail.getByTestId("mail-text").textContent()) ?? "";
        const m = text.match(new RegExp(`https?://\\S*${path.replace(/[?]/g, "\\?")}\\S+`));
        link = m ? m[0] : "";
        return link;
      },
      { timeout: 20_000 },
    )
    .not.toBe("");
  await ctx.close();
  return link;
}

/** "$70.00" → 7000, "-$1.50" → -150 (minor units, no floats). */
export function minor(text: string | null): number {
  const m = (text ?? "").match(/(-?)\$?(-?)(\d+)\.(\d{2})/);
  if (!m) throw new Error(`not an amount: ${text}`);
  return (m[1] || m[2] ? -1 : 1) * (Number(m[3]) * 100 + Number(m[4]));
}

/** 1234 → "$12.34" (as the pages print US dollars). */
export function dollars(minorUnits: number): string {
  const sign = minorUnits < 0 ? "-" : "";
  const abs = Math.abs(minorUnits);
  return `${sign}$${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

export const DAY_MS = 86_400_000;

/** Moves the server's clock forward by `ms`; returns the server's time afterwards (epoch ms). */
export async function advanceClock(request: APIRequestContext, ms: number): Promise<number> {
  const moved = await request.post(`${BASE}/__test/clock/advance`, { data: `ms=${ms}` });
  expect(moved.ok()).toBeTruthy();
  return Number(await moved.text());
}

/** The server's time (it may be ahead of this machine's after an earlier journey moved it). */
export const serverNow = (request: APIRequestContext) => advanceClock(request, 0);

/** Moves the server's clock to `at` (epoch ms), which must not be in the server's past. */
export async function advanceClockTo(request: APIRequestContext, at: number): Promise<number> {
  const now = await serverNow(request);
  expect(at).toBeGreaterThanOrEqual(now);
  return advanceClock(request, at - now);
}

/** The billing period `/billing` shows ("2026-12-01 to 2026-12-31"): its key and the next one's start. */
export async function billingPeriod(page: Page): Promise<{ key: string; nextStart: number }> {
  const label = (await page.getByTestId("month-to-date-hours").textContent()) ?? "";
  const m = label.match(/(\d{4})-(\d{2})-\d{2} to (\d{4})-(\d{2})-(\d{2})/);
  if (!m) throw new Error(`no period in ${label}`);
  return { key: `${m[1]}-${m[2]}`, nextStart: Date.UTC(Number(m[3]), Number(m[4]) - 1, Number(m[5]) + 1) };
}

/** Ends the billing period `period` ("2026-12") of the server's clock, moving it to 10 minutes into the
 * next one (which starts at `nextStart`), and has the platform admin bill the storefront `tenant` ("house",
 * "acme") for it, in a browser context of its own. */
export async function billPeriod(
  browser: Browser,
  request: APIRequestContext,
  tenant: string,
  period: string,
  nextStart: number,
) {
  await advanceClockTo(request, nextStart + 10 * 60 * 1000);
  const ctx = await browser.newContext();
  const admin = await ctx.newPage();
  await signInAdmin(admin);
  await admin.goto(at("admin.localhost", "/admin/billing"));
  await hydrated(admin);
  await admin.locator('input[name="period"]').fill(period);
  await admin.locator('input[name="tenant"]').fill(tenant);
  await admin.getByTestId("run-billing").click();
  await expect(admin.getByTestId("run-result")).toHaveText(`Billed 1 tenant(s) for ${period}.`);
  await ctx.close();
}

/** Errors the page raised or logged (a journey ends expecting none). The local Stripe's payment page has
 * no favicon; the browser's 404 for it is not ours. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error" && !m.location().url.endsWith("/favicon.ico")) errors.push(m.text());
  });
  return errors;
}

/** Deletes the workspace whose page is open. Each journey leaves no live Kasm session behind (Kasm caps
 * sessions per user). */
export async function deleteWorkspace(page: Page) {
  // A change announced over SSE re-renders the card and can close the confirmation just opened: ask again.
  await expect(async () => {
    await page.getByTestId("delete").click({ timeout: 2_000 });
    await page.getByTestId("confirm-delete").click({ timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  await expect(page.getByTestId("state")).toHaveText("Deleted");
}
