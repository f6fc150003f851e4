import { expect, test } from "@playwright/test";
import { addServer, e2e, gotoHydrated, login } from "./support";

// Issue 9, item 13: taking access back from the dashboard, each step confirmed.

test.beforeEach(async ({ page, request }) => {
  await login(page.request);
  await login(request);
});

test.describe.configure({ mode: "serial" });

test("an API token is created once, works, and stops working when revoked", async ({ page, playwright, baseURL }) => {
  await gotoHydrated(page, "/settings");
  await page.getByLabel("Name", { exact: true }).fill("e2e-script");
  await page.getByRole("button", { name: "Create token" }).click();
  const note = page.getByRole("status");
  await expect(note).toContainText("Token e2e-script created");
  const secret = (await note.locator("pre.token").textContent())!.trim();
  expect(secret).toMatch(/^hcp_[0-9a-f]{64}$/);
  const row = page.getByRole("row", { name: /e2e-script/ });
  await expect(row).toBeVisible();

  const script = await playwright.request.newContext({ baseURL });
  const asScript = () => script.get("/api/v1/servers", { headers: { Authorization: `Bearer ${secret}` } });
  expect((await asScript()).status()).toBe(200);

  await page.screenshot({ path: "screenshots/settings.png", fullPage: true });
  // The revoke button sits behind a disclosure: one click alone revokes nothing.
  await row.getByText("Revoke…").click();
  await row.getByRole("button", { name: "Revoke e2e-script now" }).click();
  await expect(page.getByRole("row", { name: /e2e-script/ })).toHaveCount(0);
  expect((await asScript()).status()).toBe(401);
  await script.dispose();
});

test("changing the password keeps this session and ends the others", async ({ page, browser }) => {
  const other = await browser.newContext();
  await login(other.request);
  expect((await other.request.get("/api/v1/servers")).status()).toBe(200);

  const change = async (current: string, next: string) => {
    await gotoHydrated(page, "/settings");
    await page.getByLabel("Current password").fill(current);
    await page.getByLabel("New password", { exact: true }).fill(next);
    await page.getByLabel("New password again").fill(next);
    await page.getByRole("button", { name: "Change password" }).click();
  };
  await change("wrong password", "a new e2e password");
  await expect(page.getByRole("alert")).toContainText("current password is wrong");
  expect((await other.request.get("/api/v1/servers")).status()).toBe(200);

  await change(e2e.password, "a new e2e password");
  await expect(page.getByRole("status")).toContainText("Every other session of yours has ended");
  expect((await other.request.get("/api/v1/servers")).status()).toBe(401);
  await gotoHydrated(page, "/");
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();

  // Back to the run's password, for the other spec files.
  await change("a new e2e password", e2e.password);
  await expect(page.getByRole("status")).toContainText("Password changed");
  await other.close();
});

test("a server gets a new agent token, then is removed, each confirmed in its form", async ({ page, request }) => {
  const old = await addServer(request, "retired-1", "Retired box");
  const beat = (token: string) =>
    request.post("/agent/v1/heartbeat", {
      headers: { Authorization: `Bearer ${token}` },
      data: {
        agent_version: "0.1.0", os: "Debian", metrics: {
          cpu_percent: 1, memory_percent: 1, disk_percent: 1, load_1: 0, load_5: 0, load_15: 0, uptime_s: 1,
        },
        reboot_required: false, reboot_required_pkgs: [],
      },
    });
  expect((await beat(old)).status()).toBe(200);

  await gotoHydrated(page, "/servers/retired-1");
  const access = page.getByRole("region", { name: "Access" });
  await access.getByText("New agent token…").click();
  const give = access.getByRole("button", { name: "Give it a new token" });
  await give.click();
  // The box is not ticked: the browser keeps the form from being sent.
  await expect(access.getByRole("status")).toHaveCount(0);
  await access.getByLabel("The current token stops working at once").check();
  await give.click();
  const note = access.getByRole("status");
  await expect(note).toContainText("Server retired-1 given a new agent token");
  const fresh = (await note.locator("pre.token").textContent())!.trim();
  expect((await beat(old)).status()).toBe(401);
  expect((await beat(fresh)).status()).toBe(200);
  await page.screenshot({ path: "screenshots/server-access.png", fullPage: true });

  await access.getByText("Remove this server…").click();
  await access.getByLabel(/Type retired-1 to confirm/).fill("retired-1");
  await access.getByRole("button", { name: "Remove server" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("row", { name: /Retired box/ })).toHaveCount(0);
  expect((await beat(fresh)).status()).toBe(401);
});
