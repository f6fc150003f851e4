import { expect, test, type Page } from "@playwright/test";
import { api, demoHost, finished, gotoHydrated, login, newestAction } from "./support";

test.beforeEach(async ({ page, request }) => {
  await login(page.request);
  await login(request);
});

// Seed story US0052 against the real server and the real agent in a Debian root
// (see inventory.spec.ts for the packages). Runs after inventory.spec.ts.
test.describe.configure({ mode: "serial" });

test.beforeAll(async ({ request, baseURL }) => {
  await demoHost(request, baseURL!);
});

async function serverPage(page: Page) {
  await gotoHydrated(page, "/servers/demo");
  await expect(page.getByRole("heading", { name: "Demo host" })).toBeVisible();
}

test("AC1: Refresh package list queues apt_update, which the agent runs", async ({ page, request }) => {
  await serverPage(page);
  await page.getByRole("button", { name: "Refresh package list" }).click();
  await expect(page.getByRole("status").filter({ hasText: /^Queued / })).toContainText("Refresh package list");
  const action = await newestAction(request);
  expect(action.action_type).toBe("apt_update");
  expect(action.argv).toEqual(["apt-get", "update"]);
  const done = await finished(request, action.id);
  expect(done.status).toBe("completed");
});

test("AC4: on a server in maintenance, Apply security updates waits for a person", async ({ page, request }) => {
  await serverPage(page);
  await page.getByRole("button", { name: "Start maintenance mode" }).click();
  await expect(page.getByText("In maintenance mode")).toBeVisible();

  page.once("dialog", (dialog) => {
    expect(dialog.message()).toContain("3 security updates");
    dialog.accept();
  });
  await page.getByRole("button", { name: "Apply security updates (3)" }).click();
  await expect(page.getByRole("status").filter({ hasText: /^Queued / })).toContainText("Awaiting approval");
  const action = await newestAction(request);
  expect(action.action_type).toBe("apt_upgrade_security");
  expect(action.status).toBe("pending");
  expect(action.argv).toEqual([
    "apt-get", "install", "--only-upgrade", "-y", "--",
    "hl-epoch=1:1.0-2", "hl-openssl=3.0.1-1+deb12u1", "hl-tzdata=2024a-1+deb12u1",
  ]);

  // While it waits, the apt buttons are disabled and say why.
  await page.reload();
  await expect(page.getByRole("button", { name: "Apply all updates (5)" })).toBeDisabled();
  const why = page.getByRole("status").filter({ hasText: "Buttons are disabled while" });
  await expect(why.getByRole("link")).toHaveAttribute("href", `/actions/${action.id}`);
  await page.screenshot({ path: "screenshots/server-apt-in-flight.png", fullPage: true });
});

test("a forced second apt request shows the conflict, not a raw error", async ({ page }) => {
  await serverPage(page);
  const refresh = page.getByRole("button", { name: "Refresh package list" });
  await refresh.evaluate((b) => b.removeAttribute("disabled"));
  await refresh.click();
  await expect(page.getByRole("alert")).toContainText("an apt action or a reboot is already queued or running");
});

test("AC4/AC5: approving from the fleet page lets the agent run it; only security packages change", async ({ page, request }) => {
  await gotoHydrated(page, "/");
  const waiting = page.getByRole("table", { name: "Actions awaiting approval" });
  await expect(waiting.getByRole("row", { name: /Apply security updates/ })).toBeVisible();
  await page.screenshot({ path: "screenshots/fleet-awaiting-approval.png", fullPage: true });
  await waiting.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("table", { name: "Actions awaiting approval" })).toHaveCount(0);

  const action = await newestAction(request);
  expect(action.approved_by).toBe("admin");
  const done = await finished(request, action.id);
  expect(done.status).toBe("completed");

  // The agent rescanned: the security updates are gone, each at its security version.
  await expect(async () => {
    const list = await api(request).get("/api/v1/servers/demo/packages");
    expect(list.security).toBe(0);
    const tz = list.packages.find((p: { name: string }) => p.name === "hl-tzdata");
    expect(tz.current_version).toBe("2024a-1+deb12u1");
    expect(list.packages.map((p: { name: string }) => p.name)).not.toContain("hl-openssl");
  }).toPass({ timeout: 30_000 });
});

test("AC6: the history shows the result with the output", async ({ page, request }) => {
  const action = await newestAction(request);
  await gotoHydrated(page, `/actions/${action.id}`);
  await expect(page.getByRole("heading", { name: `Action #${action.id}: Apply security updates` })).toBeVisible();
  await expect(page.getByText("Completed").first()).toBeVisible();
  await expect(page.getByLabel("stdout")).toContainText("Setting up hl-openssl (3.0.1-1+deb12u1)");
  const timeline = page.locator("ol.timeline");
  await expect(timeline).toContainText("Approved by admin");
  await expect(timeline).toContainText("Completed (exit 0)");
  await page.screenshot({ path: "screenshots/action.png", fullPage: true });
});

test("reject with a reason: the reason is in the history", async ({ page, request }) => {
  await serverPage(page);
  page.once("dialog", (dialog) => dialog.accept());
  // Three left after the security upgrade: hl-normal, hl-security-tools, hl-tzdata.
  await page.getByRole("button", { name: "Apply all updates (3)" }).click();
  await expect(page.getByRole("status").filter({ hasText: /^Queued / })).toContainText("Awaiting approval");
  const action = await newestAction(request);

  await gotoHydrated(page, "/actions?status=pending");
  const row = page.getByRole("row", { name: new RegExp(`#${action.id}`) });
  await row.getByText("Reject…").click();
  await row.getByLabel("Reason").fill("not during the backup window");
  await row.getByRole("button", { name: "Reject", exact: true }).click();
  await gotoHydrated(page, "/actions?status=rejected");
  const rejected = page.getByRole("row", { name: new RegExp(`#${action.id}`) });
  await expect(rejected).toContainText("Rejected");
  await expect(rejected).toContainText("Reason: not during the backup window");
  expect((await api(request).get(`/api/v1/actions/${action.id}`)).reject_reason).toBe("not during the backup window");
});

test("AC2: Apply all updates queues apt_upgrade_all; the held and kept-back packages stay", async ({ page, request }) => {
  await serverPage(page);
  await page.getByRole("button", { name: "End maintenance mode" }).click();
  await expect(page.getByText("Actions are approved automatically.")).toBeVisible();
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Apply all updates (3)" }).click();
  // Queued before the history is read: the newest action is this one.
  await expect(page.getByRole("status").filter({ hasText: /^Queued Apply all updates/ })).toBeVisible();
  const action = await newestAction(request);
  expect(action.action_type).toBe("apt_upgrade_all");
  expect((await finished(request, action.id)).status).toBe("completed");
  await expect(async () => {
    const list = await api(request).get("/api/v1/servers/demo/packages");
    expect(list.total).toBe(0);
    expect(list.packages.map((p: { name: string }) => p.name)).toEqual(["hl-held", "hl-keptback"]);
  }).toPass({ timeout: 30_000 });
  await serverPage(page);
  // Nothing left to install: the button says so; the apt lock is released.
  await expect(page.getByRole("button", { name: "No updates to apply" })).toBeDisabled();
  await expect(page.getByRole("button", { name: "Refresh package list" })).toBeEnabled();
  await page.screenshot({ path: "screenshots/server-after-upgrade.png", fullPage: true });
});

test("a failed action shows its failure in the history", async ({ page, request }) => {
  await serverPage(page);
  await page.getByLabel("Unit").fill("no-such.service");
  await page.getByRole("button", { name: "Restart unit" }).click();
  // Answered under its own form before the history is read.
  await expect(page.getByRole("status").filter({ hasText: /^Queued Restart service/ })).toBeVisible();
  const action = await newestAction(request);
  expect(action.argv).toEqual(["systemctl", "restart", "no-such.service"]);
  expect((await finished(request, action.id)).status).toBe("failed");
  await gotoHydrated(page, `/actions/${action.id}`);
  await expect(page.getByText("Failed").first()).toBeVisible();
});

test("the action page follows a running action live, without a reload", async ({ page, request }) => {
  const client = api(request);
  await client.put("/api/v1/servers/demo/maintenance", { paused: true });
  const created = await (await client.post("/api/v1/servers/demo/actions", { action_type: "apt_update" })).json();
  expect(created.status).toBe("pending");
  await gotoHydrated(page, `/actions/${created.id}`);
  await expect(page.getByText("Awaiting approval").first()).toBeVisible();
  expect((await client.post(`/api/v1/actions/${created.id}/approve`, {})).status()).toBe(200);
  // No reload: the page asks again every two seconds until the action has ended.
  await expect(page.locator("ol.timeline")).toContainText("Completed (exit 0)", { timeout: 20_000 });
  await expect(page.getByLabel("stdout")).toContainText("Reading package lists");
  await client.put("/api/v1/servers/demo/maintenance", { paused: false });
});

test.describe("with JavaScript disabled", () => {
  test.use({ javaScriptEnabled: false });

  test("the history reads, filters and pages without JavaScript", async ({ page, request }) => {
    // Enough actions for a second page (they fail fast: no systemd in the sandbox).
    for (let i = 0; i < 26; i++) {
      const r = await api(request).post("/api/v1/servers/demo/actions", {
        action_type: "restart_service",
        parameters: { unit: `unit-${i}.service` },
      });
      expect(r.status()).toBe(201);
    }
    await page.goto("/actions");
    const rows = page.getByRole("table", { name: "Actions" }).getByRole("row");
    await expect(rows).toHaveCount(26); // 25 and the header
    await page.screenshot({ path: "screenshots/history.png", fullPage: true });

    await page.getByRole("link", { name: "Older →" }).click();
    await expect(page).toHaveURL(/cursor=/);
    await expect(rows.nth(1)).toBeVisible();

    await page.goto("/actions");
    // (Fleet runs in runs.spec.ts upgraded other hosts too.)
    await page.getByLabel("Server").selectOption("demo");
    await page.getByLabel("Type").selectOption("apt_upgrade_security");
    await page.getByRole("button", { name: "Filter" }).click();
    await expect(page).toHaveURL(/server_id=demo.*action_type=apt_upgrade_security/);
    await expect(rows).toHaveCount(2);
    await expect(rows.nth(1)).toContainText("Apply security updates");
  });

  test("approving works before (and without) the WebAssembly bundle", async ({ page, request }) => {
    const client = api(request);
    await client.put("/api/v1/servers/demo/maintenance", { paused: true });
    const created = await (
      await client.post("/api/v1/servers/demo/actions", { action_type: "clear_logs", parameters: { vacuum_time: "2d" } })
    ).json();
    expect(created.status).toBe("pending");
    await page.goto("/actions?status=pending");
    const row = page.getByRole("row", { name: new RegExp(`#${created.id}`) });
    await row.getByRole("button", { name: "Approve" }).click();
    await expect(async () => {
      const action = await client.get(`/api/v1/actions/${created.id}`);
      expect(action.status).not.toBe("pending");
      expect(action.approved_by).toBe("admin");
    }).toPass({ timeout: 10_000 });
    await client.put("/api/v1/servers/demo/maintenance", { paused: false });
  });
});

test.describe("on a phone in dark mode", () => {
  test.use({ viewport: { width: 390, height: 844 }, colorScheme: "dark" });

  test("the server page fits the screen", async ({ page }) => {
    await gotoHydrated(page, "/servers/demo");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: "screenshots/server-phone-dark.png", fullPage: true });
  });
});
