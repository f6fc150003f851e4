import { expect, test } from "@playwright/test";
import { addServer, e2e, gotoHydrated, login } from "./support";

// Issue 9, items 2, 4 and 12 in a real browser: the Content-Security-Policy is on and
// the dashboard still hydrates under it; markup in a server name is text, in the
// page and in the title, and runs nothing; cookie-borne writes from another origin
// are refused.

test.beforeEach(async ({ page, request }) => {
  await login(page.request);
  await login(request);
});

test("the page hydrates and its buttons work under the Content-Security-Policy", async ({ page }) => {
  const refused: string[] = [];
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) refused.push(message.text());
  });
  const response = await page.goto("/");
  const headers = response!.headers();
  expect(headers["content-security-policy"]).toMatch(/script-src 'self' 'nonce-[0-9a-f]{32}'/);
  expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(headers["x-frame-options"]).toBe("DENY");
  expect(headers["x-content-type-options"]).toBe("nosniff");
  expect(headers["referrer-policy"]).toBe("same-origin");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");

  // A button that only works through the WebAssembly bundle: the add-server form
  // calls a server function and shows its answer. A refused id changes nothing.
  await page.getByLabel("ID").evaluate((el) => el.removeAttribute("pattern"));
  await page.getByLabel("ID").fill("Not_A_Slug");
  await page.getByLabel("Name", { exact: true }).fill("CSP check");
  const answer = page.waitForResponse((r) => r.url().includes("/api/") && r.request().method() === "POST");
  await page.getByRole("button", { name: "Add server" }).click();
  expect((await answer).status()).toBe(422);
  await expect(page.getByRole("alert")).toContainText("ID:");
  expect(refused).toEqual([]);
});

test("a server named with markup shows the text, in the title too, and runs nothing", async ({ page, request }) => {
  const name = "</title><script>window.__pwned=1</script>";
  await addServer(request, "xss-title", name);

  await gotoHydrated(page, "/servers/xss-title");
  await expect(page.getByRole("heading", { name, exact: true })).toBeVisible();
  await expect(page).toHaveTitle(`${name} · homelab-cmd`);
  expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();

  await gotoHydrated(page, "/");
  await expect(page.getByRole("row", { name: /window\.__pwned=1/ })).toBeVisible();
  expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
});

test("a cookie-borne write from another origin is refused", async ({ page }) => {
  // page.request carries the browser's session cookie.
  const refused = await page.request.post("/api/v1/servers", {
    headers: { Origin: "http://127.0.0.1:1", "Content-Type": "application/json" },
    data: { id: "csrf-victim", name: "Should not exist" },
  });
  expect(refused.status()).toBe(403);
  expect((await refused.json()).code).toBe("CROSS_ORIGIN");
  const list = await (
    await page.request.get("/api/v1/servers", { headers: { Authorization: `Bearer ${e2e.apiToken}` } })
  ).json();
  expect(list.map((s: { id: string }) => s.id)).not.toContain("csrf-victim");
});
