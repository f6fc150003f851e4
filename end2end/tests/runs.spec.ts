import { expect, test } from "@playwright/test";
import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { addServer, api, e2e, gotoHydrated, login, startAgent } from "./support";

// Issue 14: three real hosts (Debian roots with real apt, each with its real agent).
// Two are tagged `lab` on their server pages; a security-updates run on the tag,
// started from the fleet page with batch size 1, patches one after the other while
// its page follows live; the untagged host is left alone.
test.describe.configure({ mode: "serial" });

const hosts = ["fleet-a", "fleet-b", "fleet-c"];
const agents: ChildProcess[] = [];

/** The installed version of `pkg` inside the sandbox root of host `i`. */
function installed(i: number, pkg: string): string {
  return execFileSync("chroot", [e2e.fleetRoots[i], "dpkg-query", "-W", "-f", "${Version}", pkg], {
    encoding: "utf8",
  });
}

test.beforeAll(async ({ request, baseURL }) => {
  await login(request);
  for (const [i, id] of hosts.entries()) {
    const token = await addServer(request, id, `Fleet ${id.slice(-1).toUpperCase()}`);
    agents.push(startAgent(baseURL!, token, undefined, e2e.fleetRoots[i]));
  }
});

test.afterAll(() => {
  for (const agent of agents) agent.kill("SIGTERM");
});

test.beforeEach(async ({ page }) => {
  await login(page.request);
});

test("a security run on a tag patches the tagged hosts one after the other", async ({ page, request }) => {
  // Two real apt runs, one after the other.
  test.setTimeout(180_000);
  // Every host has reported its packages: three security updates each.
  await expect
    .poll(
      async () => {
        const servers: { id: string; security_updates: number }[] = await api(request).get("/api/v1/servers");
        return servers.filter((s) => hosts.includes(s.id) && s.security_updates === 3).length;
      },
      { timeout: 60_000 },
    )
    .toBe(3);

  // Tag two of them on their server pages.
  for (const id of ["fleet-a", "fleet-b"]) {
    await gotoHydrated(page, `/servers/${id}`);
    await page.getByLabel("Tags (separated by spaces)").fill("lab");
    await page.getByRole("button", { name: "Save tags" }).click();
    await expect(page.locator(".page-head").getByRole("link", { name: "lab", exact: true })).toBeVisible();
  }

  // The fleet page filters by the tag; its run form then targets the tag.
  await gotoHydrated(page, "/");
  await page.getByRole("navigation", { name: "Filter by tag" }).getByRole("link", { name: "lab" }).click();
  await expect(page).toHaveURL(/\?tag=lab$/);
  const fleet = page.getByRole("table", { name: "Servers" });
  await expect(fleet.getByRole("row")).toHaveCount(3);
  await expect(fleet.getByRole("row", { name: /Fleet C/ })).toHaveCount(0);
  // (A label's name includes the chosen option: "Action Apply all updates".)
  await page.getByRole("combobox", { name: /^Action\b/ }).selectOption("apt_upgrade_security");
  await expect(page.getByRole("radio", { name: "Every server tagged" })).toBeChecked();
  await expect(page.getByLabel("Tag", { exact: true })).toHaveValue("lab");
  await expect(page.getByLabel("Batch size")).toHaveValue("1");
  await page.screenshot({ path: "screenshots/fleet-tag-filter.png", fullPage: true });
  await page.getByRole("button", { name: "Start run" }).click();

  await expect(page).toHaveURL(/\/runs\/\d+$/);
  await expect(page.getByRole("heading", { name: /^Fleet run #\d+: Apply security updates$/ })).toBeVisible();
  const items = page.getByRole("table", { name: "Servers in this run" });
  await expect(items.getByRole("row").nth(1)).toContainText("fleet-a");
  await expect(items.getByRole("row").nth(2)).toContainText("fleet-b");
  // Both states read at once, from one rendering of the table.
  const states = () =>
    items.evaluate((table) =>
      Array.from(table.querySelectorAll("tbody tr"), (row) => row.querySelector(".item-state")?.textContent?.trim()).join(
        " / ",
      ),
    );

  // Watch the page (it follows the run live, no reload) until both are done: the
  // second host starts only after the first completed.
  const seen: string[] = [];
  await expect(async () => {
    const now = await states();
    if (seen[seen.length - 1] !== now) seen.push(now);
    expect(now).toBe("Completed / Completed");
  }).toPass({ timeout: 120_000, intervals: [100] });
  for (const snapshot of seen) {
    const [a, b] = snapshot.split(" / ");
    expect(b === "Waiting" || a === "Completed", `seen: ${seen.join(" → ")}`).toBe(true);
  }
  // The page changed by itself (it is never reloaded here); how many steps it showed
  // depends on how fast apt was. The order is the server's record: the second host's
  // action was queued only once the first one had finished.
  expect(seen.length, `seen: ${seen.join(" → ")}`).toBeGreaterThan(1);
  const runId = page.url().split("/").pop();
  const run = await api(request).get(`/api/v1/runs/${runId}`);
  const [first, second] = await Promise.all(
    run.items.map((i: { action_id: number }) => api(request).get(`/api/v1/actions/${i.action_id}`)),
  );
  expect(first.server_id).toBe("fleet-a");
  expect(second.created_at_ms).toBeGreaterThanOrEqual(first.finished_at_ms);
  expect(first.run_id).toBe(run.id);
  await expect(page.getByText("2 of 2 done")).toBeVisible();
  await expect(page.getByText("Completed", { exact: true }).first()).toBeVisible();
  await page.screenshot({ path: "screenshots/run.png", fullPage: true });

  // The tagged hosts have their security versions; the untagged one is untouched.
  for (const i of [0, 1]) {
    expect(installed(i, "hl-openssl")).toBe("3.0.1-1+deb12u1");
    expect(installed(i, "hl-tzdata")).toBe("2024a-1+deb12u1");
    expect(installed(i, "hl-normal")).toBe("1.0-1");
  }
  expect(installed(2, "hl-openssl")).toBe("3.0.1-1");
  const untouched = await api(request).get("/api/v1/actions?server_id=fleet-c");
  expect(untouched.actions).toEqual([]);

  // The runs list, and the history filtered by the run.
  await gotoHydrated(page, "/runs");
  await expect(page.getByRole("table", { name: "Fleet runs" }).getByRole("row", { name: /tag lab/ })).toContainText(
    "Completed",
  );
  await page.screenshot({ path: "screenshots/runs.png", fullPage: true });
});

test("ticked servers make a run of their own; the run page links its approvals", async ({ page, request }) => {
  test.setTimeout(120_000);
  // fleet-b asks for every action: its step waits for a person.
  const always = await api(request).put("/api/v1/servers/fleet-b/approval-policy", { approval_policy: "always_ask" });
  expect(always.status()).toBe(200);
  await gotoHydrated(page, "/");
  const fleet = page.getByRole("table", { name: "Servers" });
  await fleet.getByRole("checkbox", { name: "Select Fleet B" }).check();
  await fleet.getByRole("checkbox", { name: "Select Fleet C" }).check();
  await page.getByRole("combobox", { name: /^Action\b/ }).selectOption("apt_update");
  await page.getByRole("radio", { name: "The servers ticked above" }).check();
  await page.getByLabel("Batch size").fill("2");
  await page.getByRole("button", { name: "Start run" }).click();
  await expect(page).toHaveURL(/\/runs\/\d+$/);

  const items = page.getByRole("table", { name: "Servers in this run" });
  await expect(items.getByRole("row")).toHaveCount(3);
  const b = items.getByRole("row", { name: /fleet-b/ });
  await expect(b).toContainText("Awaiting approval");
  await expect(items.getByRole("row", { name: /fleet-c/ })).toContainText("Completed", { timeout: 60_000 });
  await expect(page.getByText("1 of 2 done")).toBeVisible();
  await page.screenshot({ path: "screenshots/run-awaiting-approval.png", fullPage: true });
  await b.getByRole("button", { name: "Approve" }).click();
  await expect(b.locator(".item-state")).toHaveText("Completed", { timeout: 60_000 });
  await expect(page.getByText("2 of 2 done")).toBeVisible();
  await api(request).put("/api/v1/servers/fleet-b/approval-policy", { approval_policy: "auto" });
});
