import { test, expect, Page } from "@playwright/test";

import { BASE, collectErrors } from "./helpers";
import { SHOP, openPage } from "./pages";

// The built site's files are linked under their build's id (`/assets/<id>/pkg/`) and served `immutable`:
// a browser that has loaded one page of the build loads the next one's WebAssembly, loaders, stylesheet and
// prefetched chunks from its cache, without asking the server again (not even a revalidation).

/** One request of the page, as the DevTools protocol reports it. */
type Request = { path: string; cached: boolean; finished: boolean; failed: boolean };

/** Every request of `page` from now on, by request id. */
async function watchRequests(page: Page): Promise<Map<string, Request>> {
  const requests = new Map<string, Request>();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  const of = (id: string) => requests.get(id);
  cdp.on("Network.requestWillBeSent", (e) =>
    requests.set(e.requestId, { path: new URL(e.request.url).pathname, cached: false, finished: false, failed: false }),
  );
  // Blink's memory cache answers without a response event; the HTTP cache answers with `fromDiskCache`.
  cdp.on("Network.requestServedFromCache", (e) => {
    const r = of(e.requestId);
    if (r) r.cached = true;
  });
  cdp.on("Network.responseReceived", (e) => {
    const r = of(e.requestId);
    if (r && e.response.fromDiskCache) r.cached = true;
  });
  cdp.on("Network.loadingFinished", (e) => {
    const r = of(e.requestId);
    if (r) r.finished = true;
  });
  cdp.on("Network.loadingFailed", (e) => {
    const r = of(e.requestId);
    if (r) r.failed = true;
  });
  return requests;
}

/** The files under `/assets/` whose requests have completed, and those still loading or failed. */
function siteFiles(requests: Map<string, Request>) {
  const site = [...requests.values()].filter((r) => r.path.startsWith("/assets/"));
  return {
    loaded: site.filter((r) => r.finished && !r.failed),
    unfinished: site.filter((r) => !r.finished || r.failed).map((r) => r.path),
  };
}

/** The files a page of the storefront loads: the main module, its loader and the stylesheet, and the
 * chunks of the lazy pages its header links to (Sign up: the account pages; Billing: the billing pages),
 * which the page prefetches once the links are shown (lazy.spec.ts). Names without the `/assets/<id>/pkg/`
 * root. */
async function filesOfAStorefrontPage(page: Page): Promise<string[]> {
  const html = await (await page.request.get(`${BASE}/`)).text();
  const root = html.match(/href="(\/assets\/[0-9a-f]{16}\/pkg)\/ezscale\.css"/)?.[1];
  expect(root, "the stylesheet linked under the build's id").toBeDefined();
  const manifest: Record<string, string[]> = await (await page.request.get(`${BASE}${root}/__wasm_split_manifest.json`)).json();
  const chunks = Object.entries(manifest)
    .filter(([view]) => view.startsWith("account_pages_") || view.startsWith("billing_pages_"))
    .flatMap(([, files]) => files.map((f) => `${f}.wasm`));
  expect(chunks.length, Object.keys(manifest).join(", ")).toBeGreaterThan(2);
  return [...new Set(["ezscale.wasm", "ezscale.js", "ezscale.css", ...chunks])].sort();
}

test("a second page of the same build loads the site's files from the browser's cache", async ({ page }) => {
  const files = await filesOfAStorefrontPage(page);
  const errors = collectErrors(page);
  const requests = await watchRequests(page);
  const loaded = () => siteFiles(requests).loaded.map((r) => r.path.replace(/^\/assets\/[0-9a-f]{16}\/pkg\//, ""));

  await openPage(page, SHOP, "/");
  // Every file of the page, prefetched chunks included, has arrived before the next page is opened: a
  // prefetch cut short by the navigation would be fetched again by the next page, rightly from the server.
  await expect.poll(() => files.filter((f) => !loaded().includes(f))).toEqual([]);
  const first = siteFiles(requests).loaded;
  const wasm = first.find((r) => /^\/assets\/[0-9a-f]{16}\/pkg\/ezscale\.wasm$/.test(r.path));
  expect(wasm, first.map((r) => r.path).join(", ")).toBeDefined();
  expect(wasm!.cached, "a first load takes the WebAssembly from the server").toBe(false);

  requests.clear();
  // A full page load of another page (not a client-side navigation): the same files, none from the server.
  await openPage(page, SHOP, "/login");
  await expect.poll(() => files.filter((f) => !loaded().includes(f))).toEqual([]);
  const { loaded: second, unfinished } = siteFiles(requests);
  expect(unfinished).toEqual([]);
  expect(second.filter((r) => !r.cached).map((r) => r.path)).toEqual([]);
  await expect(page.getByRole("button", { name: "Sign in" })).toBeEnabled();
  expect(errors).toEqual([]);
  // The server's answer, for the record of what allowed it.
  const res = await page.request.get(`${BASE}${wasm!.path}`);
  expect(res.headers()["cache-control"]).toBe("public, max-age=31536000, immutable");
});
