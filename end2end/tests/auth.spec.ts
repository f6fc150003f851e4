import { expect, test } from "@playwright/test";
import { e2e } from "./support";

// Logged out: every page sends the browser to the login, which brings it back.
test("every page redirects to the login when logged out", async ({ page }) => {
  for (const path of ["/", "/servers/demo", "/actions", "/actions/1"]) {
    await page.goto(path);
    await expect(page).toHaveURL(/\/login\?next=/);
    await expect(page.getByRole("heading", { name: "Log in" })).toBeVisible();
  }
});

test("logging in lands on the page asked for; a wrong password says so; logging out ends it", async ({ page }) => {
  await page.goto("/actions?status=failed");
  await page.getByLabel("Username").fill(e2e.user);
  await page.getByLabel("Password").fill("wrong password");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("alert")).toHaveText("Wrong username or password.");
  await page.screenshot({ path: "screenshots/login.png", fullPage: true });

  await page.getByLabel("Username").fill(e2e.user);
  await page.getByLabel("Password").fill(e2e.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/actions\?status=failed$/);
  await expect(page.getByRole("heading", { name: "Action history" })).toBeVisible();
  const cookie = (await page.context().cookies()).find((c) => c.name === "hlc_session");
  expect(cookie?.httpOnly).toBe(true);
  expect(cookie?.sameSite).toBe("Strict");

  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\?next=/);
});
