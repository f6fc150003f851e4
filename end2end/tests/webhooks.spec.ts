import { expect, test } from "@playwright/test";
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { api, gotoHydrated, login } from "./support";

// Issue 15, notifications: a webhook made in the dashboard shows its address cut
// short and its secret once; "Send test" reaches a real receiver (here, in the test)
// with a signature that checks out, and the delivery shows as delivered. Screenshots
// at 1280 and 390 px go to end2end/screenshots/ (docs/screenshots/ with
// UPDATE_DOCS_SCREENSHOTS=1).

test.describe.configure({ mode: "serial" });

const SCREENSHOTS = process.env.UPDATE_DOCS_SCREENSHOTS
  ? join(__dirname, "..", "..", "docs", "screenshots")
  : join(__dirname, "..", "screenshots");

type Got = { headers: IncomingHttpHeaders; body: Buffer };
let receiver: Server;
let received: Got[] = [];
let hookUrl = "";

test.beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const { port } = receiver.address() as AddressInfo;
  hookUrl = `http://127.0.0.1:${port}/hook/s3cret-t0ken`;
});

test.afterAll(async () => {
  await new Promise((resolve) => receiver.close(resolve));
});

test.beforeEach(async ({ page, request }) => {
  await login(page.request);
  await login(request);
  received = [];
});

test("a webhook made in the UI is tested, signed, and shown without its secret", async ({ page, request }) => {
  await gotoHydrated(page, "/webhooks");
  await expect(page.getByRole("heading", { name: "Webhooks", level: 1 })).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Webhooks" })).toBeVisible();

  const form = page.getByRole("region", { name: "New webhook" });
  await form.getByLabel("Name").fill("Phone <b>alerts</b>");
  // An address that is not the web is refused with the field named.
  await form.getByLabel(/Address/).fill("file:///etc/passwd");
  await form.getByRole("button", { name: "Create webhook" }).click();
  await expect(page.getByRole("alert")).toContainText("Address:");
  expect((await api(request).get("/api/v1/webhooks")).webhooks).toHaveLength(0);

  await form.getByLabel(/Address/).fill(hookUrl);
  await form.getByLabel(/A fleet run finished/).check();
  await form.getByRole("button", { name: "Create webhook" }).click();
  const note = page.getByRole("status").filter({ hasText: "created" });
  await expect(note).toContainText("Webhook Phone <b>alerts</b> created");
  const secret = (await note.locator("code.secret").textContent()) ?? "";
  expect(secret).toMatch(/^whsec_[0-9a-f]{64}$/);

  const item = page.getByRole("listitem").filter({ hasText: "Phone <b>alerts</b>" });
  await expect(item).toContainText(/http:\/\/127\.0\.0\.1:\d+\/ho…/);
  await expect(item).toContainText("An action failed, A server went offline, A fleet run finished");
  await expect(page.locator("b", { hasText: "alerts" })).toHaveCount(0);

  await item.getByRole("button", { name: "Send test to Phone <b>alerts</b>" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Test notification" })).toContainText(
    "Test notification queued for Phone <b>alerts</b>.",
  );
  await expect.poll(() => received.length, { timeout: 15_000 }).toBe(1);
  const got = received[0];
  expect(got.headers["x-homelab-event"]).toBe("test");
  const expected = "sha256=" + createHmac("sha256", secret).update(got.body).digest("hex");
  expect(got.headers["x-homelab-signature"]).toBe(expected);
  expect(JSON.parse(got.body.toString()).summary).toBe("Test notification from homelab-cmd.");

  // After a reload the secret is gone for good and the delivery shows as delivered.
  await expect(async () => {
    await page.reload();
    await expect(item.getByRole("row").filter({ hasText: "Test" })).toContainText("Delivered");
  }).toPass({ timeout: 15_000 });
  const html = await page.content();
  expect(html).not.toContain(secret);
  expect(html).not.toContain("s3cret-t0ken");

  for (const [width, height] of [
    [1280, 800],
    [390, 844],
  ]) {
    await page.setViewportSize({ width, height });
    // Nothing wider than the screen: the deliveries table scrolls inside its card.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
    await page.screenshot({ path: join(SCREENSHOTS, `webhooks-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });

  // Deleting asks first.
  await item.getByText("Delete…").click();
  await item.getByRole("button", { name: "Delete Phone <b>alerts</b> now" }).click();
  await expect(page.getByText("No webhooks yet.")).toBeVisible();
  expect((await api(request).get("/api/v1/webhooks")).webhooks).toHaveLength(0);
});
