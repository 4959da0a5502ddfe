import { expect, Locator, Page } from "@playwright/test";

// What a phone must be able to reach: every visible link, button and form control lies inside the
// viewport's width, and the page never scrolls sideways. Shared by the phone journeys and meant for any
// later page-by-page check (an accessibility scan visits the same pages).

/** A small phone (Android's common 360 px wide). */
export const PHONE = { width: 360, height: 740 };

const CONTROLS =
  'a[href], button, input:not([type="hidden"]), select, textarea, summary, [role="button"], [tabindex]:not([tabindex="-1"])';

/** The controls on the page that are visible yet not wholly within the viewport's width, and a note if
 * the page itself is wider than the viewport; each described well enough to find it. */
export async function outsideViewport(page: Page): Promise<string[]> {
  return page.evaluate((selector) => {
    const width = document.documentElement.clientWidth;
    const out: string[] = [];
    const scroll = document.documentElement.scrollWidth;
    if (scroll > width) out.push(`the page is ${scroll}px wide in a ${width}px viewport`);
    for (const el of Array.from(document.querySelectorAll<HTMLElement>(selector))) {
      // Closed disclosures (content-visibility), display:none and visibility:hidden are not on screen.
      if (!el.checkVisibility({ checkVisibilityCSS: true, contentVisibilityAuto: true })) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.left < -0.5 || r.right > width + 0.5) {
        const id = el.getAttribute("data-testid");
        const text = (el.innerText || el.getAttribute("aria-label") || el.getAttribute("name") || "").trim().slice(0, 40);
        out.push(`<${el.tagName.toLowerCase()}${id ? ` data-testid="${id}"` : ""}> "${text}" spans ${Math.round(r.left)}..${Math.round(r.right)}px`);
      }
    }
    return out;
  }, CONTROLS);
}

/** Asserts that nothing on the page leaves the viewport sideways: first as it loads, then with every
 * disclosure on it open (the navigation menu and any `<details>` in the page), then closes them again. */
export async function expectWithinViewport(page: Page) {
  const where = new URL(page.url()).pathname;
  expect(await outsideViewport(page), `outside the viewport on ${where}`).toEqual([]);
  const opened = await page.evaluate(() => {
    const closed = Array.from(document.querySelectorAll("details:not([open])"));
    closed.forEach((d) => d.setAttribute("open", ""));
    return closed.length;
  });
  if (opened > 0) {
    expect(await outsideViewport(page), `outside the viewport on ${where}, disclosures open`).toEqual([]);
    await page.evaluate(() => document.querySelectorAll("details[open]").forEach((d) => d.removeAttribute("open")));
  }
}

/** The frame's navigation menu (a `<details>` "Menu" on narrow screens). */
export const navMenu = (page: Page) => ({
  menu: page.getByTestId("nav-menu"),
  toggle: page.getByTestId("nav-menu-toggle"),
  links: page.getByTestId("nav-menu").locator("nav a[href]"),
});

/** On a narrow screen the navigation is folded: "Menu" reached with the keyboard shows a focus ring,
 * opens with Enter, and then every link of it is visible, inside the viewport and next in the tab order. */
export async function expectMenuByKeyboard(page: Page) {
  const { menu, toggle, links } = navMenu(page);
  await expect(toggle).toBeVisible();
  await expect(menu).not.toHaveAttribute("open");
  await expect(links.first()).toBeHidden();
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  for (let i = 0; i < 6 && !(await toggle.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(toggle).toBeFocused();
  await expect(toggle).not.toHaveCSS("outline-style", "none");
  await page.keyboard.press("Enter");
  await expect(menu).toHaveAttribute("open", "");
  const count = await links.count();
  expect(count).toBeGreaterThan(0);
  for (let i = 0; i < count; i++) await expect(links.nth(i)).toBeVisible();
  expect(await outsideViewport(page), "menu open").toEqual([]);
  await page.keyboard.press("Tab");
  await expect(links.first()).toBeFocused();
  // Enter on "Menu" again folds it.
  await toggle.focus();
  await page.keyboard.press("Enter");
  await expect(menu).not.toHaveAttribute("open");
  await expect(links.first()).toBeHidden();
}

/** Opens the menu with a tap (unless it is open already) and follows its link named `name`. */
export async function followMenuLink(page: Page, name: string | RegExp): Promise<Locator> {
  const { menu, toggle, links } = navMenu(page);
  if ((await menu.getAttribute("open")) === null) await toggle.click();
  await expect(menu).toHaveAttribute("open", "");
  const link = links.filter({ hasText: name }).first();
  await expect(link).toBeVisible();
  await link.click();
  return link;
}
