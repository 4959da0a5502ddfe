import AxeBuilder from "@axe-core/playwright";
import { expect, Page } from "@playwright/test";

import { expectWithinViewport } from "./viewport";

// The accessibility scan every page walk runs: axe-core (every rule it ships, WCAG 2.x A and AA among
// them) on the page as it stands; a serious or critical violation fails the journey with what and where.

/** What axe-core finds serious or critical on the page, one line per rule: its id, impact, help text and
 * the first elements it names. */
export async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => {
      const where = v.nodes
        .slice(0, 4)
        .map((n) => n.target.join(" "))
        .join(" | ");
      return `${v.id} (${v.impact}): ${v.help} at ${where}${v.nodes.length > 4 ? ` and ${v.nodes.length - 4} more` : ""}`;
    });
}

/** No serious or critical violation on the page as it stands, nor with its disclosures (the navigation
 * menu, any `<details>`) open. */
export async function expectAccessible(page: Page) {
  const where = new URL(page.url()).pathname;
  expect(await seriousViolations(page), `axe-core on ${where}`).toEqual([]);
  const opened = await page.evaluate(() => {
    const closed = Array.from(document.querySelectorAll("details:not([open])"));
    closed.forEach((d) => d.setAttribute("open", ""));
    return closed.length;
  });
  if (opened > 0) {
    expect(await seriousViolations(page), `axe-core on ${where}, disclosures open`).toEqual([]);
    await page.evaluate(() => document.querySelectorAll("details[open]").forEach((d) => d.removeAttribute("open")));
  }
}

/** The phone walks' check: nothing outside the viewport, nothing serious for axe-core at that width. */
export async function fitsAndAccessible(page: Page) {
  await expectWithinViewport(page);
  await expectAccessible(page);
}
