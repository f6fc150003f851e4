import { expect, test } from "@playwright/test";
import { join } from "node:path";
import { addServer, api, e2e, gotoHydrated, login } from "./support";

// Issue 14, schedules: a schedule created in the dashboard shows its next firing,
// on its zone's clock, and can be deleted (behind a confirmation). Screenshots at
// 1280 and 390 px go to docs/screenshots/ with UPDATE_DOCS_SCREENSHOTS=1.

test.describe.configure({ mode: "serial" });

const SCREENSHOTS = process.env.UPDATE_DOCS_SCREENSHOTS
  ? join(__dirname, "..", "..", "docs", "screenshots")
  : join(__dirname, "..", "screenshots");
/** A machine of its own (no agent): schedules only name it. */
const NAS = "sched-nas";

test.beforeEach(async ({ page, request }) => {
  await login(page.request);
  await login(request);
});

test("a schedule created in the UI shows its next firing", async ({ page, request }) => {
  const existing = await request.get(`/api/v1/servers/${NAS}`, {
    headers: { Authorization: `Bearer ${e2e.apiToken}` },
  });
  if (existing.status() === 404) await addServer(request, NAS, "Schedule NAS");

  await gotoHydrated(page, "/schedules");
  await expect(page.getByRole("heading", { name: "Schedules", level: 1 })).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Schedules" })).toBeVisible();

  // A form's fields, filled whatever the last submission left in them.
  const form = page.getByRole("region", { name: "New schedule" });
  const fill = async (cron: string) => {
    await form.getByLabel("Name").fill("Sunday security <b>updates</b>");
    await form.getByLabel(/Cron line/).fill(cron);
    await form.getByLabel("Time zone").fill("Europe/London");
    await form.getByLabel("Action").selectOption("apt_upgrade_security");
    await form.getByLabel("Server ids (comma-separated)").fill(NAS);
    await form.getByRole("button", { name: "Create schedule" }).click();
  };
  // A garbage line is refused with the field named, and nothing is stored.
  await fill("0 3 * * FUNDAY");
  await expect(page.getByRole("alert")).toContainText("Cron line (day of week)");
  expect((await api(request).get("/api/v1/schedules")).schedules).toHaveLength(0);

  await fill("0 3 * * SUN");
  await expect(page.getByRole("status")).toContainText("Schedule Sunday security <b>updates</b> created");

  // The row: the name as text (never markup), the line in words, the next firing on
  // London's clock (a Sunday at 03:00, GMT or BST) and how soon.
  const row = page.getByRole("row", { name: /Sunday security <b>updates<\/b>/ });
  await expect(row).toBeVisible();
  await expect(row).toContainText("at 03:00 on Sunday (Europe/London)");
  await expect(row).toContainText(/Sun \d{4}-\d{2}-\d{2} 03:00 (GMT|BST)/);
  await expect(row).toContainText(/in \d+ (d|h|min)/);
  await expect(row).toContainText("none yet");
  await expect(page.locator("b", { hasText: "updates" })).toHaveCount(0);

  // The API agrees.
  const list = await api(request).get("/api/v1/schedules");
  const created = list.schedules.find((s: { name: string }) => s.name === "Sunday security <b>updates</b>");
  expect(created.next_fire_at_ms).toBeGreaterThan(Date.now());
  expect(created.servers).toEqual([NAS]);

  for (const [width, height] of [
    [1280, 800],
    [390, 844],
  ]) {
    await page.setViewportSize({ width, height });
    await page.screenshot({ path: join(SCREENSHOTS, `schedules-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });

  // Editing: a new line counts the next firing again.
  await row.getByText("Edit…").click();
  await row.getByLabel(/Cron line/).fill("30 4 * * *");
  await row.getByRole("button", { name: "Save Sunday security <b>updates</b>" }).click();
  await expect(page.getByRole("status").filter({ hasText: "changed" })).toContainText(
    "Schedule Sunday security <b>updates</b> changed",
  );
  await expect(row).toContainText("every day at 04:30 (Europe/London)");
  await expect(row).toContainText(/\d{4}-\d{2}-\d{2} 04:30 (GMT|BST)/);

  // Deleting sits behind a disclosure: one click alone deletes nothing.
  await row.getByText("Delete…").click();
  await row.getByRole("button", { name: "Delete Sunday security <b>updates</b> now" }).click();
  await expect(page.getByRole("row", { name: /Sunday security/ })).toHaveCount(0);
  expect((await api(request).get("/api/v1/schedules")).schedules).toHaveLength(0);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("a schedule is created and deleted through plain form posts", async ({ page, request }) => {
    await page.goto("/schedules");
    const form = page.getByRole("region", { name: "New schedule" });
    await form.getByLabel("Name").fill("No-JS weekly");
    await form.getByLabel(/Cron line/).fill("15 2 * * MON");
    await form.getByLabel("Time zone").fill("America/New_York");
    await form.getByLabel("Action").selectOption("apt_update");
    await form.getByLabel("Server ids (comma-separated)").fill(NAS);
    await form.getByRole("button", { name: "Create schedule" }).click();

    // The post lands back on the page, rendered by the server with the new row.
    await expect(page).toHaveURL(/\/schedules(\?.*)?$/);
    const row = page.getByRole("row", { name: /No-JS weekly/ });
    await expect(row).toContainText("at 02:15 on Monday (America/New_York)");
    await expect(row).toContainText(/Mon \d{4}-\d{2}-\d{2} 02:15 (EST|EDT)/);

    await row.getByText("Delete…").click();
    await row.getByRole("button", { name: "Delete No-JS weekly now" }).click();
    await expect(page).toHaveURL(/\/schedules(\?.*)?$/);
    await expect(page.getByRole("row", { name: /No-JS weekly/ })).toHaveCount(0);
    expect((await api(request).get("/api/v1/schedules")).schedules).toHaveLength(0);
  });
});
