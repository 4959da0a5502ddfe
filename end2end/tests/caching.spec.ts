import { test, expect } from "@playwright/test";

import { BASE, collectErrors } from "./helpers";
import { SHOP, openPage } from "./pages";

// The built site's files are linked under their build's id (`/assets/<id>/pkg/`) and served `immutable`:
// a browser that has loaded one page of the build loads the next one's WebAssembly, loaders and stylesheet
// from its cache, without asking the server again (not even a revalidation).

test("a second page of the same build loads the site's files from the browser's cache", async ({ page }) => {
  const errors = collectErrors(page);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  // Per request: its path, whether Chrome served it from its memory or disk cache, whether it got an answer.
  const urls = new Map<string, string>();
  const fromCache = new Set<string>();
  const answered = new Set<string>();
  cdp.on("Network.requestWillBeSent", (e) => urls.set(e.requestId, new URL(e.request.url).pathname));
  cdp.on("Network.requestServedFromCache", (e) => fromCache.add(e.requestId));
  cdp.on("Network.responseReceived", (e) => {
    answered.add(e.requestId);
    if (e.response.fromDiskCache) fromCache.add(e.requestId);
  });
  const siteFiles = (ids: string[]) =>
    ids.map((id) => urls.get(id) ?? "").filter((p) => p.startsWith("/assets/")).sort();
  const fromNetwork = () => [...answered].filter((id) => !fromCache.has(id));

  await openPage(page, SHOP, "/");
  const first = siteFiles(fromNetwork());
  expect(first.some((p) => /^\/assets\/[0-9a-f]{16}\/pkg\/ezscale\.wasm$/.test(p)), first.join(", ")).toBe(true);
  expect(first.some((p) => p.endsWith("/pkg/ezscale.css")), first.join(", ")).toBe(true);

  fromCache.clear();
  answered.clear();
  urls.clear();
  // A full page load of another page (not a client-side navigation): the same files, none from the server.
  await openPage(page, SHOP, "/login");
  expect(siteFiles(fromNetwork())).toEqual([]);
  const cached = siteFiles([...fromCache]);
  for (const file of ["ezscale.wasm", "ezscale.js", "ezscale.css"]) {
    expect(cached.some((p) => p.endsWith(`/pkg/${file}`)), `${file} from the cache: ${cached.join(", ")}`).toBe(true);
  }
  await expect(page.getByRole("button", { name: "Sign in" })).toBeEnabled();
  expect(errors).toEqual([]);
  // The server's answer, for the record of what allowed it.
  const res = await page.request.get(`${BASE}${cached.find((p) => p.endsWith("/ezscale.wasm"))}`);
  expect(res.headers()["cache-control"]).toBe("public, max-age=31536000, immutable");
});
