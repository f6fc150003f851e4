import { expect, test } from "@playwright/test";
import { demoHost, gotoHydrated, login } from "./support";

test.beforeEach(async ({ page, request }) => {
  await login(page.request);
  await login(request);
});

// A real agent in a real Debian root (scripts/sandbox/make-host.sh) with these
// pending updates: security hl-epoch, hl-openssl, hl-tzdata; ordinary hl-normal,
// hl-security-tools; held hl-held; kept back hl-keptback.
test.beforeAll(async ({ request, baseURL }) => {
  await demoHost(request, baseURL!);
});

test("the fleet page shows the demo host online with its update counts", async ({ page }) => {
  await gotoHydrated(page, "/");
  const row = page.getByRole("row", { name: /Demo host/ });
  // The agent's first heartbeat lands within a couple of seconds, its package scan
  // just after (the first heartbeat carries none); reload until both are in.
  const cells = row.getByRole("cell");
  await expect(async () => {
    await page.reload();
    await expect(cells.nth(0)).toContainText("Online", { timeout: 1000 });
    await expect(cells.nth(2)).toHaveText("5", { timeout: 1000 }); // installable: held and kept back excluded
  }).toPass({ timeout: 30_000 });
  await expect(cells.nth(3)).toHaveText("3"); // security
  await page.screenshot({ path: "screenshots/fleet.png", fullPage: true });
});

test("the server page lists every package, security first, held and kept back apart", async ({ page }) => {
  await gotoHydrated(page, "/servers/demo");
  await expect(page.getByRole("heading", { name: "Demo host" })).toBeVisible();
  const installable = page.getByRole("table", { name: "Installable updates" });
  const names = await installable.getByRole("rowheader").allTextContents();
  expect(names).toEqual(["hl-epoch", "hl-openssl", "hl-tzdata", "hl-normal", "hl-security-tools"]);
  const tz = installable.getByRole("row", { name: /hl-tzdata/ });
  await expect(tz).toContainText("2024a-1");
  await expect(tz).toContainText("2025b-0+deb12u1");
  await expect(tz).toContainText("2024a-1+deb12u1");
  const apart = page.getByRole("table", { name: "Held or kept back" });
  await expect(apart.getByRole("rowheader")).toHaveText(["hl-held", "hl-keptback"]);
  await expect(apart.getByRole("row", { name: /hl-held/ })).toContainText("Held");
  await page.screenshot({ path: "screenshots/server.png", fullPage: true });
});

test("the security-only filter shows exactly the security packages", async ({ page }) => {
  await gotoHydrated(page, "/servers/demo");
  await page.getByRole("link", { name: "Security only" }).click();
  await expect(page).toHaveURL(/only=security/);
  const installable = page.getByRole("table", { name: "Installable updates" });
  await expect(installable.getByRole("rowheader")).toHaveText(["hl-epoch", "hl-openssl", "hl-tzdata"]);
  await expect(page.getByRole("table", { name: "Held or kept back" })).toHaveCount(0);
  await page.screenshot({ path: "screenshots/server-security-only.png", fullPage: true });
});
