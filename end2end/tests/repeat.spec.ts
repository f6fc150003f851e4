import { expect, test } from "@playwright/test";
import { addServer, api, gotoHydrated, login } from "./support";

// Issue 11, item 2 (first part): one click, one request; a repeated form is the
// same request. A server with no agent keeps the queued action in view.

test.beforeEach(async ({ page, request }) => {
  await login(page.request);
  await login(request);
});

test("a double click on Refresh package list queues one action and shows no error", async ({ page, request }) => {
  await addServer(request, "double-1", "Double click box");
  await gotoHydrated(page, "/servers/double-1");
  await page.getByRole("button", { name: "Refresh package list" }).dblclick();
  await expect(page.getByRole("status").filter({ hasText: "Queued Refresh package list" })).toBeVisible();
  await expect(page.getByRole("alert")).toHaveCount(0);
  const history = await api(request).get("/api/v1/actions?server_id=double-1");
  expect(history.actions).toHaveLength(1);
  expect(history.actions[0].action_type).toBe("apt_update");
});
