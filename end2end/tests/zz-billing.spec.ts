import { test, expect, Page } from "@playwright/test";

// Money as a customer and an operator see it: top up through the (local) Stripe checkout, run a
// workspace, watch "so far this period", let the period end, run billing as the admin, and open the
// invoice — its total is what the page showed. Runs last: it moves the server's clock forward.

const BASE = process.env.BASE_URL ?? "http://127.0.0.1:3000";
const PORT = new URL(BASE).port || "3000";

function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    // The local Stripe's payment page has no favicon; the browser's 404 for it is not ours.
    if (m.type() === "error" && !m.location().url.endsWith("/favicon.ico")) errors.push(m.text());
  });
  return errors;
}

async function hydrated(page: Page) {
  await expect(page.locator("html")).toHaveAttribute("data-hydrated", "true", { timeout: 20_000 });
}

async function signIn(page: Page) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Email").fill("other@ezscale.test");
  await page.getByLabel("Password").fill("other-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/workspaces$/);
}

/** "$70.00" → 7000 (minor units, no floats). */
function minor(text: string | null): number {
  const m = (text ?? "").match(/(-?)\$?(\d+)\.(\d{2})/);
  if (!m) throw new Error(`not an amount: ${text}`);
  return (m[1] ? -1 : 1) * (Number(m[2]) * 100 + Number(m[3]));
}

test("top up by card, run a workspace, watch the period's figure, bill it, and the invoice matches", async ({ page, request }) => {
  const errors = collectErrors(page);
  await signIn(page);

  // Top up 20.00 through the checkout page.
  await page.goto("/billing");
  await hydrated(page);
  const before = minor(await page.getByTestId("balance").textContent());
  await page.getByTestId("top-up-amount").fill("20.00");
  await page.getByTestId("top-up").click();
  await expect(page).toHaveURL(/\/pay\/cs_/);
  await page.locator("#pay").click();
  await expect(page).toHaveURL(/\/billing\?topup=cs_/);
  await hydrated(page);
  await expect.poll(async () => minor(await page.getByTestId("balance").textContent())).toBe(before + 2000);

  // Run a workspace: the period's figure ticks up from the same function as the invoice.
  await page.goto("/");
  await hydrated(page);
  await page.getByTestId("plan-developer-basic").getByRole("button", { name: "Order" }).click();
  await expect(page.getByTestId("state")).toHaveText("Running", { timeout: 20_000 });
  await page.goto("/billing");
  await hydrated(page);
  await expect.poll(async () => minor(await page.getByTestId("month-to-date").textContent())).toBeGreaterThan(0);
  await page.goto("/workspaces");
  await hydrated(page);
  await page.locator('a[href^="/workspaces/"]').first().click();
  await page.getByTestId("stop").click();
  await expect(page.getByTestId("state")).toHaveText("Stopped");
  await page.goto("/billing");
  await hydrated(page);
  const shown = minor(await page.getByTestId("month-to-date").textContent());
  expect(shown).toBeGreaterThan(0);
  const label = (await page.getByTestId("month-to-date-hours").textContent()) ?? "";
  const end = label.match(/to (\d{4})-(\d{2})-(\d{2})/);
  expect(end).not.toBeNull();

  // The period ends: move the server's clock just past it.
  const nextStart = Date.UTC(Number(end![1]), Number(end![2]) - 1, Number(end![3]) + 1);
  const advance = nextStart - Date.now() + 10 * 60 * 1000;
  const moved = await request.post(`${BASE}/__test/clock/advance`, { data: `ms=${advance}` });
  expect(moved.ok()).toBeTruthy();
  const period = `${end![1]}-${end![2]}`;

  // The admin runs billing for that period.
  await page.goto(`http://admin.localhost:${PORT}/admin/login`);
  await hydrated(page);
  await page.getByLabel("Email").fill("admin@ezscale.test");
  await page.getByLabel("Password").fill("admin-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("tenant-list")).toBeVisible();
  await page.goto(`http://admin.localhost:${PORT}/admin/billing`);
  await hydrated(page);
  await page.locator('input[name="period"]').fill(period);
  await page.locator('input[name="tenant"]').fill("house");
  await page.getByTestId("run-billing").click();
  await expect(page.getByTestId("run-result")).toContainText("Billed 1 tenant");

  // The customer opens the invoice: its total is what the page showed.
  await signIn(page);
  await page.goto("/billing");
  await hydrated(page);
  const row = page.getByTestId("invoice-row").filter({ hasText: period });
  await expect(row).toHaveCount(1);
  await row.locator("a").click();
  await expect(page.getByTestId("invoice")).toBeVisible();
  expect(minor(await page.getByTestId("invoice-total").textContent())).toBe(shown);
  await expect(page.getByTestId("invoice-csv")).toBeVisible();
  // Its PDF downloads with the customer's session (the page's own cookies).
  const pdfHref = await page.getByTestId("invoice-pdf").getAttribute("href");
  const pdf = await page.request.get(pdfHref!);
  expect(pdf.status()).toBe(200);
  expect(pdf.headers()["content-type"]).toBe("application/pdf");
  expect((await pdf.body()).subarray(0, 8).toString()).toBe("%PDF-1.4");
  expect(errors).toEqual([]);
});
