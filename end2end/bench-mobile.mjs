// make bench: the storefront on a phone. Debian's Chromium with a mobile profile set through the DevTools
// protocol (4× CPU slowdown, 1.6 Mbps down, 750 kbps up, 150 ms latency, a phone's screen), a fresh cache
// for every load. For the catalog and a running workspace's page (signed in as the demo customer): the time
// from navigation to hydrated (`data-hydrated` on <html>) and the bytes transferred, median of RUNS loads;
// beside each, a static HTML page of the same size (the page's own HTML without its scripts) served by the
// same server on the same profile, to its `load` event. The ratio (page / static) is the figure. Usage:
//   node end2end/bench-mobile.mjs <base URL> <site root>
import { chromium, request as apiRequest } from "@playwright/test";
import { writeFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";

const [base, siteRoot] = process.argv.slice(2);
if (!base || !siteRoot) {
  console.error("usage: node end2end/bench-mobile.mjs <base URL> <site root>");
  process.exit(2);
}
const RUNS = Number(process.env.BENCH_MOBILE_RUNS ?? 5);
// Bytes per second: 1.6 Mbit/s down, 750 kbit/s up.
const PROFILE = { latency: 150, downloadThroughput: 200_000, uploadThroughput: 93_750 };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"],
});

// The demo customer's session, and a running workspace of theirs.
const api = await apiRequest.newContext({ baseURL: base });
const login = await api.post("/api/login", { form: { email: "demo@ezscale.test", password: "demo-password" } });
if (!login.ok()) throw new Error(`sign-in: ${login.status()}`);
const cookies = (await api.storageState()).cookies;
const catalog = await (await api.post("/api/catalog", { form: {} })).json();
const ordered = await api.post("/api/order_workspace", { form: { plan: "developer-basic", order_key: catalog.order_key } });
if (!ordered.ok()) throw new Error(`order: ${ordered.status()} ${await ordered.text()}`);
const id = await ordered.json();
for (let i = 0; ; i++) {
  const w = await (await api.post("/api/get_workspace", { form: { id } })).json();
  if (JSON.stringify(w.card.state) === '"Running"') break;
  if (i > 300) throw new Error(`workspace ${id} never ran: ${JSON.stringify(w.card.state)}`);
  await new Promise((r) => setTimeout(r, 100));
}

/** One load on a fresh profile: [ms to ready, bytes transferred]. */
async function load(path, ready) {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 3,
    isMobile: true,
    hasTouch: true,
  });
  await context.addCookies(cookies);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  await cdp.send("Network.emulateNetworkConditions", { offline: false, ...PROFILE });
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
  let bytes = 0;
  cdp.on("Network.loadingFinished", (e) => (bytes += e.encodedDataLength));
  const start = performance.now();
  await page.goto(base + path, { waitUntil: ready === "load" ? "load" : "commit" });
  if (ready === "hydrated") await page.waitForSelector('html[data-hydrated="true"]', { state: "attached", timeout: 120_000 });
  const ms = Math.round(performance.now() - start);
  await context.close();
  return [ms, bytes];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
async function measure(path, ready) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await load(path, ready));
  return [median(runs.map((r) => r[0])), median(runs.map((r) => r[1]))];
}

console.log(`\n== storefront on a phone (Chromium: 4x CPU slowdown, 1.6 Mbps, 150 ms; median of ${RUNS}) ==`);
for (const [name, path] of [["catalog /", "/"], ["running workspace", `/workspaces/${id}`]]) {
  // The static page: this page's own server-rendered HTML without its scripts and preloads (so as much
  // markup, compressing as well), padded back to the same size with the removed text in a comment.
  const page = await (await api.get(path)).text();
  const html = Buffer.byteLength(page);
  const removed = [];
  const still = page
    .replace(/<script\b[\s\S]*?<\/script>/gi, (m) => (removed.push(m), ""))
    .replace(/<link\b[^>]*rel="(?:modulepreload|preload)"[^>]*>/gi, (m) => (removed.push(m), ""));
  const padding = removed.join(" ").replaceAll("--", "- -");
  const file = `bench-static-${process.pid}.html`;
  writeFileSync(join(siteRoot, file), still.replace("</body>", `<!-- ${padding} --></body>`));
  const [ms, bytes] = await measure(path, "hydrated");
  const [staticMs, staticBytes] = await measure(`/${file}`, "load");
  unlinkSync(join(siteRoot, file));
  // Integer arithmetic: the ratio in hundredths.
  const ratio = (BigInt(ms) * 100n) / BigInt(Math.max(1, staticMs));
  console.log(
    `${name.padEnd(20)} hydrated in ${String(ms).padStart(6)} ms, ${String(bytes).padStart(9)} bytes;` +
      ` static page of ${html} bytes ${staticMs} ms, ${staticBytes} bytes; ratio ${ratio / 100n}.${String(ratio % 100n).padStart(2, "0")}`,
  );
}
await browser.close();
await api.dispose();
