import { expect, test } from "@playwright/test";
import { gotoHydrated, login } from "./support";

// Issue 11, item 6 in a real browser: the page loads its bundle under content-hashed
// names, gets the brotli copies (Chromium accepts br), may keep them for a year, and
// hydrates; the page itself is never stored.

test.beforeEach(async ({ page }) => {
  await login(page.request);
});

const HASHED = /\/pkg\/homelab-cmd\.[A-Za-z0-9_-]{22}\.(css|js|wasm)$/;

test("the page hydrates from brotli-compressed, content-hashed files kept for a year", async ({ page }) => {
  const assets = new Map<string, Record<string, string>>();
  page.on("response", async (response) => {
    const path = new URL(response.url()).pathname;
    if (path.startsWith("/pkg/")) assets.set(path, await response.allHeaders());
  });
  const document = page.waitForResponse((r) => new URL(r.url()).pathname === "/");
  await gotoHydrated(page, "/");
  expect((await (await document).allHeaders())["cache-control"]).toBe("no-store");

  const kinds = [...assets.keys()].map((path) => path.match(HASHED)?.[1]).sort();
  expect(kinds, [...assets.keys()].join(", ")).toEqual(["css", "js", "wasm"]);
  for (const [path, headers] of assets) {
    expect(headers["content-encoding"], path).toBe("br");
    expect(headers["cache-control"], path).toBe("public, max-age=31536000, immutable");
    expect(headers["vary"], path).toBe("accept-encoding");
  }
  const wasm = [...assets].find(([path]) => path.endsWith(".wasm"))!;
  expect(wasm[1]["content-type"]).toBe("application/wasm");
});
