import { expect, test } from "@playwright/test";
import { gotoHydrated, login } from "./support";

// Issue 11, item 6 in a real browser: the page loads its bundle under content-hashed
// names, gets the brotli copies (Chromium accepts br), may keep them for a year, and
// hydrates; the page itself is never stored.

test.beforeEach(async ({ page }) => {
  await login(page.request);
});

// The main bundle, and (cargo leptos --split) the split loader and the WebAssembly
// chunks of the page shown: `split___<page>_route_view_<n>` and the `chunk_<n>` code
// it shares with other pages.
const MAIN = /\/pkg\/homelab-cmd\.[A-Za-z0-9_-]{22}\.(css|js|wasm)$/;
const HASHED = /\/pkg\/(homelab-cmd|__wasm_split|chunk_\d+|split___[a-z_]+_view_\d+)\.[A-Za-z0-9_-]{22}\.(css|js|wasm)$/;

test("the page hydrates from brotli-compressed, content-hashed files kept for a year", async ({ page }) => {
  const assets = new Map<string, Record<string, string>>();
  page.on("response", async (response) => {
    const path = new URL(response.url()).pathname;
    if (path.startsWith("/pkg/")) assets.set(path, await response.allHeaders());
  });
  const document = page.waitForResponse((r) => new URL(r.url()).pathname === "/");
  await gotoHydrated(page, "/");
  expect((await (await document).allHeaders())["cache-control"]).toBe("no-store");

  const paths = [...assets.keys()];
  const kinds = paths.map((path) => path.match(MAIN)?.[1]).filter(Boolean).sort();
  expect(kinds, paths.join(", ")).toEqual(["css", "js", "wasm"]);
  // The fleet page's own chunk came with it.
  expect(paths.some((path) => /\/pkg\/split___fleet_route_view_/.test(path)), paths.join(", ")).toBe(true);
  for (const [path, headers] of assets) {
    expect(path).toMatch(HASHED);
    expect(headers["content-encoding"], path).toBe("br");
    expect(headers["cache-control"], path).toBe("public, max-age=31536000, immutable");
    expect(headers["vary"], path).toBe("accept-encoding");
    if (path.endsWith(".wasm")) expect(headers["content-type"], path).toBe("application/wasm");
  }
});
