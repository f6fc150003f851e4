import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { join } from "node:path";
import { addServer, api, demoHost, finished, gotoHydrated, login } from "./support";

// Issue 11, item 5 (phone layout): at 390 px every column that matters and every
// Approve/Reject control is on screen without scrolling sideways. Each page is also
// photographed at 1280 and 390 px into docs/screenshots/.
//
// Runs after fleet.spec.ts (name order) on whatever fleet the earlier files left: it
// brings its own data (the demo host with its real agent, a finished action on it,
// and a machine in maintenance with actions waiting for approval) and leaves no
// action waiting, since later files approve "the" waiting action.

test.describe.configure({ mode: "serial" });

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
// The documentation's copies change only when asked for (UPDATE_DOCS_SCREENSHOTS=1
// ./scripts/test); a plain run writes them next to the other test screenshots.
const SCREENSHOTS = process.env.UPDATE_DOCS_SCREENSHOTS
  ? join(__dirname, "..", "..", "docs", "screenshots")
  : join(__dirname, "..", "screenshots");
/** A machine in maintenance, with no agent: its actions wait for a person. */
const LAB = "phone-lab";

let refreshId = 0;

test.beforeAll(async ({ request, baseURL }) => {
  // The demo host's agent starts, reports, and runs one action.
  test.setTimeout(120_000);
  await demoHost(request, baseURL!);
  const client = api(request);
  // Its first report (with the package list) lands within a few seconds.
  await expect(async () => {
    expect((await client.get("/api/v1/servers/demo")).status).toBe("online");
    expect((await client.get("/api/v1/servers/demo/packages")).total).toBeGreaterThan(0);
  }).toPass({ timeout: 30_000 });
  // A real action with real output for the action page.
  const refresh = await client.post("/api/v1/servers/demo/actions", { action_type: "apt_update" });
  expect(refresh.status()).toBe(201);
  refreshId = (await refresh.json()).id;
  expect((await finished(request, refreshId)).status).toBe("completed");

  await addServer(request, LAB, "Phone lab (rack 2, behind the long-named switch)");
  expect((await client.put(`/api/v1/servers/${LAB}/maintenance`, { paused: true })).status()).toBe(200);
});

test.afterAll(async ({ request }) => {
  await cancelLabActions(request);
});

test.beforeEach(async ({ page, request }) => {
  await login(page.request);
  await login(request);
});

/** Queues a restart on the lab machine; it waits for approval. */
async function waitingAction(request: APIRequestContext, unit: string): Promise<number> {
  const response = await api(request).post(`/api/v1/servers/${LAB}/actions`, {
    action_type: "restart_service",
    parameters: { unit },
  });
  expect(response.status()).toBe(201);
  const action = await response.json();
  expect(action.status).toBe("pending");
  return action.id;
}

/** Cancels whatever the lab machine still has waiting or queued. */
async function cancelLabActions(request: APIRequestContext) {
  const client = api(request);
  for (const status of ["pending", "approved"]) {
    const page = await client.get(`/api/v1/actions?server_id=${LAB}&status=${status}`);
    for (const action of page.actions ?? []) {
      await client.post(`/api/v1/actions/${action.id}/cancel`, {});
    }
  }
}

/** Asserts that nothing on the page needs a sideways scroll: not the page, not a
 * table, and no element sticks out of the screen (except inside a box that scrolls
 * or clips it on purpose, such as a long command line in a <pre>). */
async function expectFits(page: Page) {
  const problems = await page.evaluate(() => {
    const width = window.innerWidth;
    const found: string[] = [];
    const name = (el: Element) =>
      el.tagName.toLowerCase() +
      (typeof el.className === "string" && el.className.trim() ? "." + el.className.trim().split(/\s+/).join(".") : "") +
      ` "${(el.textContent ?? "").trim().slice(0, 40)}"`;
    const root = document.documentElement;
    if (root.scrollWidth > width) found.push(`the page is ${root.scrollWidth} px wide`);
    for (const el of Array.from(document.querySelectorAll("table, .table-wrap"))) {
      if (el.scrollWidth > el.clientWidth) found.push(`${name(el)} scrolls: ${el.scrollWidth} > ${el.clientWidth}`);
    }
    // Nor does a cell's content spill over its neighbour (a badge wider than its column).
    for (const el of Array.from(document.querySelectorAll("tbody th, tbody td"))) {
      if (el.scrollWidth > el.clientWidth + 1) found.push(`${name(el)} overflows its cell: ${el.scrollWidth} > ${el.clientWidth}`);
    }
    const clippedByAncestor = (el: Element) => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        if (getComputedStyle(p).overflowX !== "visible") return true;
      }
      return false;
    };
    for (const el of Array.from(document.body.querySelectorAll("*"))) {
      const box = el.getBoundingClientRect();
      if (box.width === 0 || clippedByAncestor(el)) continue;
      if (box.right > width + 0.5 || box.left < -0.5) {
        found.push(`${name(el)} spans ${Math.round(box.left)}..${Math.round(box.right)} px`);
      }
    }
    return found;
  });
  expect(problems, `at ${page.viewportSize()?.width} px`).toEqual([]);
}

/** Checks the page at phone width, then photographs it at 1280 and 390 px. */
async function checkAndShoot(page: Page, name: string) {
  await expectFits(page);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}-390.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  await expectFits(page);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}-1280.png`), fullPage: true });
}

/** `locator` lies wholly within the screen's width, and can be clicked. */
async function expectOnScreen(page: Page, locator: ReturnType<Page["locator"]>) {
  await expect(locator).toBeVisible();
  await locator.scrollIntoViewIfNeeded();
  const box = await locator.boundingBox();
  expect(box).not.toBeNull();
  expect(box!.x).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width).toBeLessThanOrEqual(page.viewportSize()!.width);
  // A trial click: Playwright checks the element is visible, stable, enabled and not
  // covered, without clicking.
  await locator.click({ trial: true });
}

test.describe("on a phone", () => {
  test.use({ viewport: PHONE });

  test("the fleet shows every column of every server, and the waiting action's controls", async ({
    page,
    request,
  }) => {
    const id = await waitingAction(request, "nginx.service");
    await gotoHydrated(page, "/");
    const fleet = page.getByRole("table", { name: "Servers" });
    const demo = fleet.getByRole("row", { name: /Demo host/ });
    // Each count is on screen, led by its column's name.
    for (const [label, cell] of [
      ["Status", "Online"],
      ["Updates", /\d+/],
      ["Security", /\d+/],
    ] as const) {
      const td = demo.locator(`td[data-label="${label}"]`);
      await expectOnScreen(page, td);
      await expect(td).toContainText(cell);
    }
    const lab = fleet.getByRole("row", { name: /Phone lab/ });
    await expectOnScreen(page, lab.getByText("Maintenance"));

    const waiting = page.getByRole("table", { name: "Actions awaiting approval" });
    const row = waiting.getByRole("row", { name: new RegExp(`#${id}\\b`) });
    await expectOnScreen(page, row.getByRole("button", { name: "Approve" }));
    await expectOnScreen(page, row.getByText("Reject…"));
    await checkAndShoot(page, "fleet");
  });

  test("approving and rejecting from the history works at phone width", async ({ page, request }) => {
    const toApprove = await waitingAction(request, "ssh.service");
    await gotoHydrated(page, `/actions?server_id=${LAB}&status=pending`);
    const table = page.getByRole("table", { name: "Actions" });

    const approveRow = table.getByRole("row", { name: new RegExp(`#${toApprove}\\b`) });
    const approve = approveRow.getByRole("button", { name: "Approve" });
    await expectOnScreen(page, approve);
    await approve.click();
    await expect(table.getByRole("row", { name: new RegExp(`#${toApprove}\\b`) })).toHaveCount(0);
    expect((await api(request).get(`/api/v1/actions/${toApprove}`)).approved_by).toBe("admin");

    // The nginx restart from the fleet test still waits: reject it, reason and all.
    const pending = await api(request).get(`/api/v1/actions?server_id=${LAB}&status=pending`);
    expect(pending.actions).toHaveLength(1);
    const toReject = pending.actions[0].id;
    const rejectRow = table.getByRole("row", { name: new RegExp(`#${toReject}\\b`) });
    await expectOnScreen(page, rejectRow.getByText("Reject…"));
    await rejectRow.getByText("Reject…").click();
    const reason = rejectRow.getByLabel("Reason");
    await expectOnScreen(page, reason);
    await reason.fill("not while the rack is rewired");
    await expectFits(page);
    const reject = rejectRow.getByRole("button", { name: "Reject", exact: true });
    await expectOnScreen(page, reject);
    await reject.click();
    await expect(async () => {
      const action = await api(request).get(`/api/v1/actions/${toReject}`);
      expect(action.status).toBe("rejected");
      expect(action.reject_reason).toBe("not while the rack is rewired");
    }).toPass({ timeout: 10_000 });
  });

  test("the server page shows every column of the package table", async ({ page }) => {
    await gotoHydrated(page, "/servers/demo");
    await expect(page.getByRole("heading", { name: "Demo host" })).toBeVisible();
    const packages = page.getByRole("table", { name: "Installable updates" });
    const row = packages.getByRole("row").filter({ has: page.getByRole("rowheader") }).first();
    for (const label of ["Installed", "Available", "Repository"]) {
      await expectOnScreen(page, row.locator(`td[data-label="${label}"]`));
    }
    const recent = page.getByRole("table", { name: "Recent actions" });
    await expectOnScreen(page, recent.getByRole("link", { name: `#${refreshId}` }));
    await checkAndShoot(page, "server");
  });

  test("the history shows every column, the rejected action with its reason", async ({ page }) => {
    await gotoHydrated(page, "/actions");
    const table = page.getByRole("table", { name: "Actions" });
    await expect(table.getByRole("row", { name: /Rejected/ }).first()).toBeVisible();
    const row = table.getByRole("row", { name: new RegExp(`#${refreshId}\\b`) });
    for (const label of ["Server", "Type", "Status", "Created", "By"]) {
      await expectOnScreen(page, row.locator(`td[data-label="${label}"]`));
    }
    await expectOnScreen(page, table.getByText("Reason: not while the rack is rewired"));
    await checkAndShoot(page, "history");
  });

  test("the action page shows the command, timeline and output", async ({ page }) => {
    await gotoHydrated(page, `/actions/${refreshId}`);
    await expect(page.getByRole("heading", { name: `Action #${refreshId}: Refresh package list` })).toBeVisible();
    await expect(page.getByLabel("stdout")).toContainText("Reading package lists");
    await expectOnScreen(page, page.locator("pre.command"));
    await checkAndShoot(page, "action");
  });

  test("an action awaiting approval shows Approve and Reject on its own page", async ({ page, request }) => {
    const id = await waitingAction(request, "cron.service");
    await gotoHydrated(page, `/actions/${id}`);
    await expectOnScreen(page, page.getByRole("button", { name: "Approve" }));
    await expectOnScreen(page, page.getByText("Reject…"));
    await expectFits(page);
    await page.screenshot({ path: join(SCREENSHOTS, "action-pending-390.png"), fullPage: true });
    await cancelLabActions(request);
  });

  test("the settings page, the login page and the 404 page fit too", async ({ page, browser }) => {
    await gotoHydrated(page, "/settings");
    await expect(page.getByRole("heading", { name: "Settings" })).toBeVisible();
    await checkAndShoot(page, "settings");
    await page.setViewportSize(PHONE);
    await gotoHydrated(page, "/no-such-page");
    await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
    await checkAndShoot(page, "not-found");
    // Signed out: a fresh context without the session cookie.
    const anonymous = await browser.newPage({ viewport: PHONE });
    await gotoHydrated(anonymous, "/login");
    await expect(anonymous.getByRole("button", { name: "Log in" })).toBeVisible();
    await checkAndShoot(anonymous, "login");
    await anonymous.close();
  });
});
