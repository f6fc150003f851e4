import { expect, test } from "@playwright/test";
import { gotoHydrated, login } from "./support";

test.beforeEach(async ({ page, request }) => {
  await login(page.request);
  await login(request);
});

// Runs first (files run in name order, one worker): the fleet starts empty.

test.describe.configure({ mode: "serial" });

test("the fleet page is rendered on the server with an empty state that says how to add a server", async ({
  request,
}) => {
  const response = await request.get("/");
  expect(response.status()).toBe(200);
  const html = await response.text();
  expect(html).toContain("No servers yet");
  expect(html).toContain("homelab-cmd server add");
  // Not hydrated yet: the marker only appears in a browser.
  expect(html).not.toContain('data-hydrated="true"');
});

test("adding a server goes through a server function and shows the token once", async ({ page }) => {
  await gotoHydrated(page, "/");
  await expect(page.getByRole("heading", { name: "No servers yet" })).toBeVisible();
  await page.screenshot({ path: "screenshots/fleet-empty.png", fullPage: true });

  const serverFn = page.waitForResponse(
    (r) => r.url().includes("/api/") && r.request().method() === "POST",
  );
  await page.getByLabel("ID").fill("nas-01");
  await page.getByLabel("Name", { exact: true }).fill("Attic NAS");
  await page.getByRole("button", { name: "Add server" }).click();
  expect((await serverFn).status()).toBe(200);

  const note = page.getByRole("status");
  await expect(note).toContainText("Server nas-01 added");
  await expect(note.locator("pre.token")).toHaveText(/^hca_[0-9a-f]{64}$/);

  const row = page.getByRole("row", { name: /Attic NAS/ });
  await expect(row).toBeVisible();
  await expect(row.getByRole("cell").first()).toContainText("Waiting for agent");
  // The token comes with the install line to run on the machine (onboarding.spec.ts
  // runs it); the token itself is not in it.
  await expect(note).toContainText(/curl -fsSL http:\/\/127\.0\.0\.1:\d+\/downloads\/install\.sh \| sh/);
  await page.screenshot({ path: "screenshots/fleet-one-server.png", fullPage: true });
});

test("the new server survives a reload, rendered on the server", async ({ request }) => {
  const html = await (await request.get("/")).text();
  expect(html).toContain("Attic NAS");
  expect(html).not.toContain("No servers yet");
});

test("a bad id is refused with a message that names the field, and nothing is added", async ({ page }) => {
  await gotoHydrated(page, "/");
  // Bypass the browser's own pattern check to reach the server's validation.
  await page.getByLabel("ID").evaluate((el) => el.removeAttribute("pattern"));
  await page.getByLabel("ID").fill("Bad_ID");
  await page.getByLabel("Name", { exact: true }).fill("Broken");
  const answer = page.waitForResponse((r) => r.url().includes("/api/") && r.request().method() === "POST");
  await page.getByRole("button", { name: "Add server" }).click();
  expect((await answer).status()).toBe(422);
  await expect(page.getByRole("alert")).toContainText("ID:");
  await expect(page.getByRole("row", { name: /Broken/ })).toHaveCount(0);
});

test("a duplicate id is a clear conflict", async ({ page }) => {
  await gotoHydrated(page, "/");
  await page.getByLabel("ID").fill("nas-01");
  await page.getByLabel("Name", { exact: true }).fill("Second NAS");
  const answer = page.waitForResponse((r) => r.url().includes("/api/") && r.request().method() === "POST");
  await page.getByRole("button", { name: "Add server" }).click();
  expect((await answer).status()).toBe(409);
  await expect(page.getByRole("alert")).toContainText("already exists");
  await expect(page.getByRole("row", { name: /Second NAS/ })).toHaveCount(0);
});

test("an unknown path answers 404 with a way back", async ({ page }) => {
  const response = await page.goto("/no-such-page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Back to the fleet" })).toBeVisible();
});
