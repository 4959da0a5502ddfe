import { test, expect, Page } from "@playwright/test";

import { BASE, PORT, collectErrors } from "./helpers";
import { ADMIN_HOST, SHOP, openPage } from "./pages";

// The split WebAssembly (app/src/pages.rs): a storefront visitor's first page loads the main module and
// nothing else; a page outside the first load is a chunk of its own, fetched as soon as a link to it is
// shown, so following the link downloads nothing more.

/** The built site's files as pages link them: `/assets/<build id>/pkg` (see caching.spec.ts). */
async function pkgOf(page: Page): Promise<string> {
  const html = await (await page.request.get(`${BASE}/`)).text();
  const m = html.match(/href="(\/assets\/[0-9a-f]{16}\/pkg)\/ezscale\.css"/);
  expect(m, "the stylesheet linked under the build's id").not.toBeNull();
  return m![1];
}

/** The split build's manifest: each lazy function's name → the chunk files it needs (without `.wasm`). */
async function chunksOf(page: Page, view: string): Promise<string[]> {
  const pkg = await pkgOf(page);
  const manifest: Record<string, string[]> = await (await page.request.get(`${BASE}${pkg}/__wasm_split_manifest.json`)).json();
  const names = Object.keys(manifest).filter((k) => k.startsWith(`${view}_`));
  expect(names, `one lazy view named ${view}_… in ${Object.keys(manifest).join(", ")}`).toHaveLength(1);
  const files = manifest[names[0]].map((f) => `${pkg}/${f}.wasm`);
  expect(files.length).toBeGreaterThan(0);
  return files;
}

/** The WebAssembly files a server-rendered page names in its head (what the browser fetches to hydrate it). */
async function preloadedWasm(page: Page, host: string, path: string): Promise<string[]> {
  // Node does not resolve *.localhost as the browser does: ask the server directly, naming the host.
  const html = await (await page.request.get(`${BASE}${path}`, { headers: { Host: `${host}:${PORT}` } })).text();
  return [...html.matchAll(/<link\b[^>]*\bhref="([^"]+\.wasm)"/g)].map((m) => m[1]).sort();
}

test("a storefront's first page names only the main WebAssembly; a lazy page opened directly names its chunk", async ({ page }) => {
  const main = `${await pkgOf(page)}/ezscale.wasm`;
  expect(await preloadedWasm(page, SHOP, "/")).toEqual([main]);
  expect(await preloadedWasm(page, SHOP, "/login")).toEqual([main]);
  const signup = await chunksOf(page, "account_pages");
  expect(await preloadedWasm(page, SHOP, "/signup")).toEqual(expect.arrayContaining([main, ...signup]));
  const admin = await chunksOf(page, "admin_pages");
  expect(await preloadedWasm(page, ADMIN_HOST, "/admin/login")).toEqual(expect.arrayContaining(admin));
  // Opened directly, the lazy page hydrates (its chunk arrives beside the main module) and works.
  const errors = collectErrors(page);
  await openPage(page, ADMIN_HOST, "/admin/login");
  await page.getByLabel("Email").fill("admin@ezscale.test");
  await page.getByLabel("Password").fill("admin-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("tenant-list")).toBeVisible();
  expect(errors).toEqual([]);
});

test("a page's chunk is fetched when a link to it is shown, and following the link downloads nothing", async ({ page }) => {
  const signup = await chunksOf(page, "account_pages");
  const fetched = new Set<string>();
  page.on("requestfinished", (r) => {
    const path = new URL(r.url()).pathname;
    if (path.endsWith(".wasm")) fetched.add(path);
  });
  const errors = collectErrors(page);
  // A phone: the header's links (among them "Sign up") sit in the folded menu until it is opened.
  await page.setViewportSize({ width: 390, height: 844 });
  await openPage(page, SHOP, "/");
  await page.getByTestId("nav-menu-toggle").click();
  const link = page.getByRole("link", { name: "Sign up" });
  await expect(link).toBeVisible();
  await expect.poll(() => signup.filter((f) => !fetched.has(f))).toEqual([]);
  // From here on the sign-up chunk cannot be downloaded: the page must already have it.
  await page.route(
    (url) => signup.includes(url.pathname),
    (route) => route.abort(),
  );
  await link.click();
  await expect(page).toHaveURL(/\/signup$/);
  await page.getByLabel("Name").fill("Prefetched Visitor");
  await expect(page.getByLabel("Name")).toHaveValue("Prefetched Visitor");
  await expect(page.getByRole("button", { name: "Create account" })).toBeEnabled();
  expect(errors).toEqual([]);
});
