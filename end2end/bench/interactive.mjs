// How soon each page is interactive, and how many bytes of WebAssembly it made the
// browser download. A benchmark, not a test: run it with scripts/bench-interactive,
// which starts a release server on a seeded database and passes its address.
//
// For each page, RUNS times: a fresh browser context (empty cache, signed in) loads
// the page and we read, from the browser's own clock (0 = navigation start), when
// the HTML arrived, when it was parsed, and when <body data-hydrated="true"> appeared
// (set by the WebAssembly entry point once the whole page, its lazily loaded route
// chunk included, is hydrated). Then the same page again in that context (warm
// cache: the hashed files are immutable).
//
// Then client-side navigation: from a freshly hydrated fleet page, a click on each
// link of the header and the time until the new page's heading is shown, measured
// from this script (Playwright's own overhead included); the first visit to a page
// in a context loads its chunk, the second does not.
import { chromium } from "@playwright/test";

const base = process.env.BENCH_URL;
const runs = Number(process.env.BENCH_RUNS ?? 10);
const pages = JSON.parse(process.env.BENCH_PAGES);
const { user, password } = JSON.parse(process.env.BENCH_LOGIN);

// Records performance.now() when the hydration marker appears.
const watchMarker = () => {
  const done = () => {
    if (document.body?.dataset.hydrated === "true" && window.__hydratedAt === undefined) {
      window.__hydratedAt = performance.now();
    }
  };
  new MutationObserver(done).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-hydrated"] });
};

async function measure(page, path) {
  await page.goto(base + path, { waitUntil: "commit" });
  await page.waitForFunction(() => window.__hydratedAt !== undefined, null, { timeout: 30_000 });
  return page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const wasm = performance
      .getEntriesByType("resource")
      .filter((r) => r.name.endsWith(".wasm"));
    return {
      html: nav.responseEnd,
      dom: nav.domContentLoadedEventEnd,
      hydrated: window.__hydratedAt,
      wasmFiles: wasm.length,
      // Bytes on the wire (brotli), 0 when served from the cache.
      wasmBytes: wasm.reduce((sum, r) => sum + r.transferSize, 0),
    };
  });
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const ms = (x) => `${Math.round(x)} ms`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
});
console.log(`| page | cache | HTML (p50) | parsed (p50) | hydrated p50 | hydrated p95 | hydrated max | wasm files | wasm bytes on the wire |`);
console.log(`|---|---|---|---|---|---|---|---|---|`);
for (const path of pages) {
  const cold = [];
  const warm = [];
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext();
    await context.addInitScript(watchMarker);
    const login = await context.request.post(base + "/login", {
      form: { username: user, password, next: "/" },
      headers: { Origin: base },
      maxRedirects: 0,
    });
    if (login.status() !== 303) throw new Error(`login: ${login.status()}`);
    const page = await context.newPage();
    cold.push(await measure(page, path));
    warm.push(await measure(page, path));
    await context.close();
  }
  for (const [name, xs] of [["cold", cold], ["warm", warm]]) {
    const h = xs.map((x) => x.hydrated);
    console.log(
      `| \`${path}\` | ${name} | ${ms(pct(xs.map((x) => x.html), 50))} | ${ms(pct(xs.map((x) => x.dom), 50))} | ` +
        `${ms(pct(h, 50))} | ${ms(pct(h, 95))} | ${ms(Math.max(...h))} | ${xs[0].wasmFiles} | ${xs[0].wasmBytes.toLocaleString("en")} |`,
    );
  }
}
const nav = [
  ["History", "Action history"],
  ["Settings", "Settings"],
  ["Fleet", "Fleet"],
];
const navTimes = new Map(nav.map(([link]) => [link, { first: [], again: [] }]));
async function navigate(page, link, heading) {
  const start = Date.now();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link, exact: true }).click();
  await page.getByRole("heading", { level: 1, name: heading, exact: true }).waitFor();
  return Date.now() - start;
}
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext();
  await context.addInitScript(watchMarker);
  await context.request.post(base + "/login", {
    form: { username: user, password, next: "/" },
    headers: { Origin: base },
    maxRedirects: 0,
  });
  const page = await context.newPage();
  await measure(page, "/");
  for (const round of ["first", "again"]) {
    for (const [link, heading] of nav) navTimes.get(link)[round].push(await navigate(page, link, heading));
  }
  await context.close();
}
console.log();
console.log(`| client-side navigation from the fleet page | first time p50 | first time max | again p50 | again max |`);
console.log(`|---|---|---|---|---|`);
for (const [link, heading] of nav) {
  const { first, again } = navTimes.get(link);
  console.log(`| ${link} (${heading}) | ${ms(pct(first, 50))} | ${ms(Math.max(...first))} | ${ms(pct(again, 50))} | ${ms(Math.max(...again))} |`);
}
await browser.close();
