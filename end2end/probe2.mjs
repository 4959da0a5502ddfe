import { chromium } from "@playwright/test";
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
const page = await browser.newPage();
page.on("console", (m) => { if (m.type() === "error") console.log("console", m.text().slice(0, 1500)); });
page.on("pageerror", (e) => console.log("pageerror", e.message.slice(0, 300)));
await page.goto("http://acme.localhost:3000/manage/login");
await page.waitForSelector("html[data-hydrated=true]");
await page.getByLabel("Email").fill("owner@acme.test");
await page.getByLabel("Password").fill("owner-password");
await page.getByRole("button", { name: "Sign in" }).click();
await page.waitForURL(/branding/);
await page.waitForTimeout(3000);
console.log("hydrated after sign-in:", await page.locator("html").getAttribute("data-hydrated"));
for (const p of ["/manage", "/manage/branding", "/manage/catalog"]) {
  await page.goto("http://acme.localhost:3000" + p);
  await page.waitForTimeout(3000);
  console.log(p, "hydrated:", await page.locator("html").getAttribute("data-hydrated"));
}
await browser.close();
