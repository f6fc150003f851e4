import { expect, test, type Page } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { addServer, demoHost, e2e, gotoHydrated, login, startAgent } from "./support";

// Issue 11, item 1: open pages follow the fleet live, without a reload. Runs after
// updates.spec.ts, once the demo host's updates are installed: the new versions
// published here are then its only pending updates.
test.describe.configure({ mode: "serial" });

test.beforeEach(async ({ page, request }) => {
  await login(page.request);
  await login(request);
});

test.beforeAll(async ({ request, baseURL }) => {
  await demoHost(request, baseURL!);
});

/** Publishes a package version into the sandbox's repository without telling apt:
 * only the next `apt-get update` (Refresh package list) finds it. */
function publish(name: string, version: string, postinst?: string) {
  execFileSync(
    join(__dirname, "..", "..", "scripts", "sandbox", "add-package.sh"),
    ["--index-only", dirname(e2e.root), "bookworm-updates", name, version],
    { stdio: "inherit", env: { ...process.env, POSTINST: postinst ?? "" } },
  );
}

/** Marks the document: if the page reloads, the mark is gone. */
async function markDocument(page: Page) {
  await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
}

async function sameDocument(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument === true);
}

test("Refresh: the open server page shows Completed, its buttons back and the new package, without a reload", async ({
  page,
}) => {
  await gotoHydrated(page, "/servers/demo");
  await expect(page.locator(".topbar .live.on")).toHaveText("● Live");
  await markDocument(page);
  const installable = page.getByRole("table", { name: "Installable updates" });
  await expect(installable.getByRole("row", { name: /hl-normal/ })).toHaveCount(0);
  // A slow, talkative upgrade for the next test.
  publish(
    "hl-normal",
    "9.0-1",
    "for step in 1 2 3; do echo \"hl-normal: migrating, step $step of 3\"; sleep 2; done",
  );

  const refresh = page.getByRole("button", { name: "Refresh package list" });
  await refresh.click();
  const queued = page.getByRole("status").filter({ hasText: /^Queued Refresh package list/ });
  // The done-when of issue 11: within five seconds.
  await expect(queued).toContainText("Completed", { timeout: 5_000 });
  await expect(refresh).toBeEnabled({ timeout: 5_000 });
  await expect(installable.getByRole("row", { name: /hl-normal/ })).toContainText("9.0-1", { timeout: 5_000 });
  await expect(page.getByRole("button", { name: "Apply all updates (1)" })).toBeEnabled();
  expect(await sameDocument(page)).toBe(true);
  await page.screenshot({ path: "screenshots/server-live-refreshed.png", fullPage: true });
});

test("an upgrade's output appears on the action page while it runs", async ({ page }) => {
  await gotoHydrated(page, "/servers/demo");
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Apply all updates (1)" }).click();
  const queued = page.getByRole("status").filter({ hasText: /^Queued Apply all updates/ });
  await queued.getByRole("link").click();
  await expect(page).toHaveURL(/\/actions\/\d+$/);
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await markDocument(page);

  // Step 1 is printed while the postinst still sleeps: seen while it runs.
  const stdout = page.getByLabel("stdout");
  await expect(stdout).toContainText("migrating, step 1 of 3", { timeout: 15_000 });
  await expect(page.locator(".page-head")).toContainText("Running");
  await page.screenshot({ path: "screenshots/action-live-output.png", fullPage: true });
  await expect(stdout).toContainText("migrating, step 3 of 3", { timeout: 15_000 });
  await expect(page.locator(".page-head")).toContainText("Completed", { timeout: 15_000 });
  await expect(page.locator("ol.timeline")).toContainText("Completed (exit 0)");
  expect(await sameDocument(page)).toBe(true);
});

test("the open fleet page shows a new server, its agent's first heartbeat, and the agent going away", async ({
  page,
  request,
  baseURL,
}) => {
  await gotoHydrated(page, "/");
  await expect(page.locator(".topbar .live.on")).toHaveText("● Live");
  await markDocument(page);
  const row = page.getByRole("row", { name: /Second host/ });
  await expect(row).toHaveCount(0);

  const token = await addServer(request, "second", "Second host");
  await expect(row).toBeVisible();
  await expect(row).toContainText("Waiting for agent");

  const agent = startAgent(baseURL!, token, "/var/lib/homelab-agent-second");
  try {
    await expect(row).toContainText("Online", { timeout: 10_000 });
    await expect(row).toContainText(/just now|\d+ s ago/);
  } finally {
    agent.kill("SIGTERM");
  }
  // Offline once it misses its heartbeats (2 s apart in these tests).
  await expect(row).toContainText("Offline", { timeout: 20_000 });
  expect(await sameDocument(page)).toBe(true);
});

test("a page that lost its stream reconnects by itself and catches up on what it missed", async ({
  page,
  request,
  context,
}) => {
  await gotoHydrated(page, "/");
  const indicator = page.locator(".topbar .live");
  await expect(indicator).toHaveText("● Live");
  await markDocument(page);

  // Offline, and the open stream cut (Chromium's offline mode spares open
  // connections; stopping the document's loads closes its EventSource).
  await context.setOffline(true);
  await page.evaluate(() => window.stop());
  await expect(indicator).toHaveText("○ Reconnecting…");
  // Changed while the page could not hear it.
  await addServer(request, "missed", "Missed while offline");
  await context.setOffline(false);

  await expect(indicator).toHaveText("● Live", { timeout: 30_000 });
  await expect(page.getByRole("row", { name: /Missed while offline/ })).toBeVisible();
  expect(await sameDocument(page)).toBe(true);
});

test("a live reload keeps what is being typed into the page's forms", async ({ page, request }) => {
  await gotoHydrated(page, "/servers/demo");
  await expect(page.locator(".topbar .live.on")).toBeVisible();
  const unit = page.getByRole("textbox", { name: "Unit" });
  await unit.fill("half-typed");
  // A change made elsewhere (another admin, a script) reloads the page's data.
  const headers = { Authorization: `Bearer ${e2e.apiToken}` };
  expect((await request.put("/api/v1/servers/demo/maintenance", { headers, data: { paused: true } })).status()).toBe(200);
  await expect(page.getByText("In maintenance mode")).toBeVisible();
  await expect(unit).toHaveValue("half-typed");
  await expect(unit).toBeFocused();
  expect((await request.put("/api/v1/servers/demo/maintenance", { headers, data: { paused: false } })).status()).toBe(200);
  await expect(page.getByText("Actions are approved automatically.")).toBeVisible();
  await expect(unit).toHaveValue("half-typed");
});
