// `cargo leptos end-to-end` starts the server and launches this command right away;
// wait until the server answers so the first test never races the server start-up.
export default async function globalSetup() {
  const url = (process.env.BASE_URL ?? "http://127.0.0.1:3000") + "/healthz";
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`server at ${url} not up after 60s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
