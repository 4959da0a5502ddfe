import { test, expect, Page } from "@playwright/test";

import { collectErrors, deleteWorkspace, hydrated } from "./helpers";

// The first slice as a customer sees it: sign in, order, watch it start, watch the meter tick in the
// browser, stop it, see the final cost that the server stored.

async function signIn(page: Page) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Email").fill("demo@ezscale.test");
  await page.getByLabel("Password").fill("demo-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/workspaces$/);
}

// The simulator's control port, fixed for the browser tests by the Makefile (KASM_SIM_PORT).
const SIM = process.env.KASM_SIM_URL ?? "http://127.0.0.1:4010";

// A test that failed while Kasm's starts were held must not leave them held for the next one.
test.afterEach(async ({ request }) => {
  await request.post(`${SIM}/__sim/starts/release`);
});

function seconds(clock: string): number {
  const [h, m, s] = clock.trim().split(":").map(Number);
  return h * 3600 + m * 60 + s;
}

test("order a workspace, watch it run and tick, stop it at the stored cost", async ({ page, request }) => {
  const errors = collectErrors(page);
  // Kasm's start is held while the page is asked to show "Starting", then released: the page is checked
  // against what Kasm says, not raced against the simulator's start delay on a busy machine.
  const holdStarts = async (held: boolean) =>
    expect((await request.post(`${SIM}/__sim/starts/${held ? "hold" : "release"}`)).ok()).toBeTruthy();

  await signIn(page);
  await expect(page.getByTestId("signed-in-as")).toHaveText("Demo Customer");

  await page.goto("/");
  await hydrated(page);
  const plan = page.getByTestId("plan-business-basic");
  await expect(plan.getByTestId("rate")).toHaveText("$0.20/h");
  await holdStarts(true);
  await plan.getByRole("button", { name: "Order" }).click();

  await expect(page).toHaveURL(/\/workspaces\/[0-9a-f-]{36}$/);
  // Provisioning, then Starting while Kasm brings the session up (held above), then Running once Kasm
  // lets it. Each state is seen on the page.
  await expect(page.getByTestId("state")).toHaveText(/Provisioning|Starting/);
  await expect(page.getByTestId("state")).toHaveText("Starting");
  await holdStarts(false);
  await expect(page.getByTestId("state")).toHaveText("Running", { timeout: 20_000 });

  // The meter ticks in the browser, without a reload.
  const timer = page.getByTestId("timer");
  await expect(timer).toBeVisible();
  const first = seconds((await timer.textContent()) ?? "");
  await expect.poll(async () => seconds((await timer.textContent()) ?? ""), { timeout: 10_000 }).toBeGreaterThanOrEqual(first + 2);
  await expect(page.getByTestId("live-cost")).toHaveText("$0.05");

  // Stop: the final cost shown is the amount the server stored (one 15-minute increment at $0.20/h).
  await page.getByTestId("stop").click();
  await expect(page.getByTestId("state")).toHaveText("Stopped");
  await expect(page.getByTestId("final-cost")).toHaveText("$0.05");
  await expect(page.getByTestId("usage-amount").first()).toHaveText("$0.05");
  await expect(page.getByTestId("timer")).toHaveCount(0);

  // Start again: Starting while Kasm resumes the session, then Running, with a second usage session.
  await holdStarts(true);
  await page.getByTestId("start").click();
  await expect(page.getByTestId("state")).toHaveText("Starting");
  await holdStarts(false);
  await expect(page.getByTestId("state")).toHaveText("Running", { timeout: 20_000 });
  await expect(page.getByTestId("usage-amount")).toHaveCount(2);
  await page.getByTestId("stop").click();
  await expect(page.getByTestId("state")).toHaveText("Stopped");
  // This period: both sessions, one quarter-hour each at $0.20/h.
  await expect(page.getByTestId("period-total")).toHaveText("$0.10");

  // Named after its plan until the customer names it; the name is what every page calls it.
  await expect(page.getByTestId("workspace-name")).toHaveText(/^Business Basic \d+$/);
  await page.getByTestId("rename").click();
  const typed = page.getByTestId("rename-form").locator('input[name="name"]');
  await typed.fill("Demo desk");
  // The page is drawn again whenever the workspace changes (an event, the end of an action): here it is
  // renamed from another tab while this one's form is open. The form and what was typed in it stay.
  const other = await page.context().newPage();
  await other.goto(page.url());
  await hydrated(other);
  await other.getByTestId("rename").click();
  await other.getByTestId("rename-form").locator('input[name="name"]').fill("Other desk");
  await other.getByTestId("save-name").click();
  await expect(other.getByTestId("workspace-name")).toHaveText("Other desk");
  await other.close();
  await expect(page.getByTestId("workspace-name")).toHaveText("Other desk");
  await expect(typed).toHaveValue("Demo desk");
  await page.getByTestId("save-name").click();
  await expect(page.getByTestId("workspace-name")).toHaveText("Demo desk");
  await expect(page.getByTestId("rename-form")).toHaveCount(0);
  const here = page.url();
  await page.goto("/billing");
  await hydrated(page);
  const sessions = page.getByTestId("session-row").filter({ hasText: "Demo desk" });
  await expect(sessions).toHaveCount(2);
  await expect(sessions.first().getByTestId("session-billed")).toHaveText("00:15:00");
  await expect(sessions.first().getByTestId("session-cost")).toHaveText("$0.05");

  // The usage chart: today's bar is the one tab stop (days without usage are not); focused from the
  // keyboard, it shows its value in a visible tooltip with a focus ring, both pure CSS.
  const chart = page.getByTestId("usage-chart");
  const today = chart.locator('[data-testid="chart-mark"][tabindex="0"]');
  await expect(today).toHaveCount(1);
  const name = await today.getAttribute("aria-label");
  expect(name).toMatch(/^\d\d-\d\d: (\d+ h )?\d+ min$|^\d\d-\d\d: \d+ h$/);
  const tip = today.getByTestId("chart-tip");
  // The pointer rests off the chart, so nothing is hovered yet.
  await page.mouse.move(0, 0);
  await expect(tip).toBeHidden();
  await page.getByRole("heading", { name: "Usage, last 30 days" }).click();
  await page.keyboard.press("Tab");
  await expect(today).toBeFocused();
  await expect(tip).toBeVisible();
  await expect(tip).toHaveText(name!);
  await expect(today.getByTestId("chart-focus-ring")).toBeVisible();
  // Hovering a day shows its value too (the first of the 30 days had none).
  const firstDay = chart.getByTestId("chart-mark").first();
  await expect(firstDay.getByTestId("chart-tip")).toBeHidden();
  await firstDay.locator("rect").first().hover();
  await expect(firstDay.getByTestId("chart-tip")).toBeVisible();
  await expect(firstDay.getByTestId("chart-tip")).toHaveText(/^\d\d-\d\d: 0 min$/);
  // On a 360 px phone the chart scales down to fit the screen.
  await page.setViewportSize({ width: 360, height: 800 });
  const box = await chart.locator("svg").boundingBox();
  expect(box!.x).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width).toBeLessThanOrEqual(360);
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.goto(here);
  await hydrated(page);

  // Delete asks first, then the workspace is gone for good; its usage history stays.
  await deleteWorkspace(page);
  await expect(page.getByTestId("usage-amount")).toHaveCount(2);
  await expect(page.getByTestId("start")).toHaveCount(0);

  expect(errors).toEqual([]);
});

test("an unknown page is a 404 and signed-out visitors are asked to sign in", async ({ page }) => {
  const res = await page.goto("/no-such-page");
  expect(res?.status()).toBe(404);
  await page.goto("/workspaces");
  await expect(page.getByText("to see your workspaces")).toBeVisible();
});

test("a stop made in Kasm reaches the open page by itself", async ({ page, request }) => {
  const errors = collectErrors(page);
  await signIn(page);
  await page.goto("/");
  await hydrated(page);
  await page.getByTestId("plan-developer-basic").getByRole("button", { name: "Order" }).click();
  await expect(page).toHaveURL(/\/workspaces\/[0-9a-f-]{36}$/);
  const id = page.url().split("/").pop()!;
  await expect(page.getByTestId("state")).toHaveText("Running", { timeout: 20_000 });
  await expect(page.getByTestId("timer")).toBeVisible();

  const sessions = await (await request.get(`${SIM}/__sim/sessions`)).json();
  const session = sessions.find((s: any) => s.environment?.EZSCALE_WORKSPACE_ID === id);
  expect(session).toBeTruthy();
  const stopped = await request.post(`${SIM}/__sim/sessions/${session.kasm_id}/stop`);
  expect(stopped.ok()).toBeTruthy();

  // No reload: the reconciler notices (1 s interval in this run) and the page hears it over SSE.
  await expect(page.getByTestId("state")).toHaveText("Stopped", { timeout: 4_000 });
  await expect(page.getByTestId("timer")).toHaveCount(0);
  await expect(page.getByTestId("final-cost")).toHaveText("$0.04");
  await deleteWorkspace(page);
  expect(errors).toEqual([]);
});

test("a workspace that Kasm refuses shows why, and Try again provisions it", async ({ page, request }) => {
  const errors = collectErrors(page);
  await signIn(page);
  // The next request_kasm is refused the way Kasm refuses: HTTP 200 with an error_message.
  const fault = await request.post(`${SIM}/__sim/faults`, {
    data: {
      endpoint: "request_kasm",
      kind: "business_error",
      message: "No resources are available to create the requested Kasm",
    },
  });
  expect(fault.ok()).toBeTruthy();
  await page.goto("/");
  await hydrated(page);
  await page.getByTestId("plan-business-pro").getByRole("button", { name: "Order" }).click();
  await expect(page).toHaveURL(/\/workspaces\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("state")).toHaveText("Failed", { timeout: 10_000 });
  await expect(page.getByTestId("failure")).toHaveText(
    "All workspace capacity is in use right now. Please try again in a few minutes.",
  );
  await page.getByTestId("retry").click();
  await expect(page.getByTestId("state")).toHaveText("Running", { timeout: 20_000 });
  await expect(page.getByTestId("failure")).toHaveCount(0);
  await page.getByTestId("stop").click();
  await expect(page.getByTestId("state")).toHaveText("Stopped");
  await deleteWorkspace(page);
  expect(errors).toEqual([]);
});
