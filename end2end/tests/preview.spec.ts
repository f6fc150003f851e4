import { expect, test } from "@playwright/test";
import { addServer, api, demoHost, e2e, gotoHydrated, login } from "./support";

// Know before you approve (issue 14, part 4): apt's own simulation of a pending
// upgrade, fetched on demand by the real agent in the sandbox root, shown beside
// Approve/Reject; and an upgrade the agent held because apt would remove packages.
// Runs before updates.spec.ts and leaves the demo host as it found it.
test.describe.configure({ mode: "serial" });

test.beforeEach(async ({ page, request }) => {
  await login(page.request);
  await login(request);
});

test.beforeAll(async ({ request, baseURL }) => {
  await login(request);
  await demoHost(request, baseURL!);
});

test("a pending upgrade shows what apt would do, fetched on demand with its age", async ({ page, request }) => {
  const client = api(request);
  await expect(async () => {
    const list = await client.get("/api/v1/servers/demo/packages");
    expect(list.total).toBe(5);
  }).toPass({ timeout: 30_000 });
  await client.put("/api/v1/servers/demo/maintenance", { paused: true });
  const created = await (await client.post("/api/v1/servers/demo/actions", { action_type: "apt_upgrade_all" })).json();
  expect(created.status).toBe("pending");
  try {
    // Beside Approve/Reject on the fleet page.
    await gotoHydrated(page, "/");
    const waiting = page.getByRole("table", { name: "Actions awaiting approval" });
    const row = waiting.getByRole("row", { name: new RegExp(`#${created.id}`) });
    await expect(row.getByRole("button", { name: "Approve" })).toBeVisible();
    await row.getByRole("button", { name: "Check what apt would do" }).click();
    // The agent simulates, the server announces it, the page reloads by itself.
    await expect(row.getByText("apt would upgrade 5 packages and remove nothing.")).toBeVisible({ timeout: 20_000 });
    await expect(row.getByText(/Checked (just now|\d+ s(ec)? ago)/)).toBeVisible();
    await expect(row.getByRole("button", { name: "Check again" })).toBeVisible();

    // The action page lists every package, from and to.
    await gotoHydrated(page, `/actions/${created.id}`);
    await expect(page.getByRole("heading", { name: "What apt would do" })).toBeVisible();
    const upgraded = page.getByRole("list", { name: "Packages apt would upgrade" });
    await expect(upgraded.getByRole("listitem")).toHaveCount(5);
    await expect(upgraded.getByRole("listitem").filter({ hasText: "hl-normal" })).toContainText("1.0-1 → 1.1-1");
    await expect(page.getByRole("list", { name: "Packages apt would remove" })).toHaveCount(0);
    await page.screenshot({ path: "screenshots/action-preview.png", fullPage: true });

    // Nothing ran: it still waits, and the packages are still pending.
    const after = await client.get(`/api/v1/actions/${created.id}`);
    expect(after.status).toBe("pending");
    expect(after.preview.outcome.simulated.upgraded).toHaveLength(5);
    expect((await client.get("/api/v1/servers/demo/packages")).total).toBe(5);
  } finally {
    await client.post(`/api/v1/actions/${created.id}/cancel`, {});
    await client.put("/api/v1/servers/demo/maintenance", { paused: false });
  }
});

test("an upgrade the agent held names the packages apt would remove", async ({ page, request, baseURL }) => {
  const client = api(request);
  // A second machine whose agent is this test, speaking the agent protocol.
  const token = await addServer(request, "lab", "Lab box");
  const agent = { Authorization: `Bearer ${token}` };
  try {
    const created = await (await client.post("/api/v1/servers/lab/actions", { action_type: "apt_upgrade_all" })).json();
    expect(created.approved_by).toBe("auto");
    const claim = await (await request.get(`${baseURL}/agent/v1/actions/next?wait=5`, { headers: agent })).json();
    expect(claim.id).toBe(created.id);
    expect(claim.hold_if_removing).toBe(true);
    const hold = await request.post(`${baseURL}/agent/v1/actions/${created.id}/hold`, {
      headers: agent,
      data: {
        upgraded: [{ name: "hl-remover", from: "1.0-1", to: "1.0-1+deb12u1" }],
        installed: [{ name: "hl-newdep", version: "1.0-1" }],
        removed: [
          { name: "hl-victim", version: "1.0-1" },
          { name: "libfoo2", version: "2.1-3" },
        ],
      },
    });
    expect(hold.status()).toBe(200);

    await gotoHydrated(page, `/actions/${created.id}`);
    await expect(page.getByRole("note")).toContainText("Held for your approval: apt would remove hl-victim, libfoo2");
    const removed = page.getByRole("list", { name: "Packages apt would remove" });
    await expect(removed.getByRole("listitem")).toHaveText(["hl-victim 1.0-1", "libfoo2 2.1-3"]);
    await expect(page.getByRole("list", { name: "Packages apt would newly install" })).toContainText("hl-newdep");
    await expect(page.locator("ol.timeline")).toContainText("Held for a person to approve: apt would remove hl-victim, libfoo2");
    await expect(page.getByRole("button", { name: "Approve" })).toBeVisible();
    await page.screenshot({ path: "screenshots/action-held.png", fullPage: true });

    // In the history too, beside Approve/Reject.
    await gotoHydrated(page, "/actions?status=pending");
    const row = page.getByRole("row", { name: new RegExp(`#${created.id}`) });
    await expect(row.getByRole("note")).toContainText("apt would remove hl-victim, libfoo2");
    await expect(row.getByRole("list", { name: "Packages apt would remove" })).toContainText("hl-victim");
    await page.screenshot({ path: "screenshots/history-held.png", fullPage: true });
  } finally {
    await request.delete("/api/v1/servers/lab", { headers: { Authorization: `Bearer ${e2e.apiToken}` } });
  }
});
