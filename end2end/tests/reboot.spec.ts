import { expect, test } from "@playwright/test";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addServer, api, e2e, gotoHydrated, login, startAgent } from "./support";

// Issue 15, the reboot: the Reboot button on a machine that needs one, and the
// action completing only once the machine reports from a new boot. The machine is a
// sandbox root whose `systemctl` is a test double (it only notes the request); the
// test then plays the machine going down and coming back: it stops the agent, gives
// the kernel a new boot id (a file bind-mounted over /proc/sys/kernel/random/boot_id
// by start-server.sh) and starts the agent again.

const SCREENSHOTS = process.env.UPDATE_DOCS_SCREENSHOTS
  ? join(__dirname, "..", "..", "docs", "screenshots")
  : join(__dirname, "..", "screenshots");

const FIRST_BOOT = "5b0c3f0e-7d41-4c11-9a7e-0000000000a1";
const SECOND_BOOT = "5b0c3f0e-7d41-4c11-9a7e-0000000000a2";
const root = e2e.rebootRoot;
const note = join(root, "reboot-requested");

const SYSTEMCTL_DOUBLE = `#!/bin/sh
# Test double planted by end2end/tests/reboot.spec.ts.
[ "$*" = reboot ] || { echo "systemctl double: only 'reboot', not '$*'" >&2; exit 1; }
date +%s > /reboot-requested
exit 0
`;

/** Stops the agent as a shutdown does, and waits until it has exited. */
async function shutDown(agent: ChildProcess) {
  const exited = once(agent, "exit");
  agent.kill("SIGTERM");
  await exited;
}

test("the Reboot button reboots a machine that needs it, done once it reports from a new boot", async ({
  page,
  baseURL,
}) => {
  test.setTimeout(90_000);
  writeFileSync(e2e.bootIdFile, `${FIRST_BOOT}\n`);
  writeFileSync(join(root, "usr/bin/systemctl"), SYSTEMCTL_DOUBLE, { mode: 0o755 });
  // What a kernel update leaves behind.
  mkdirSync(join(root, "run"), { recursive: true });
  writeFileSync(join(root, "run/reboot-required"), "*** System restart required ***\n");
  writeFileSync(join(root, "run/reboot-required.pkgs"), "linux-image-amd64\n");
  rmSync(note, { force: true });

  await login(page.request);
  const token = await addServer(page.request, "rebooter", "Reboot host");
  let agent = startAgent(baseURL!, token, undefined, root);
  try {
    // Reported, with the reboot it needs (on a busy machine that takes seconds).
    await expect
      .poll(async () => (await api(page.request).get("/api/v1/servers/rebooter")).reboot_required, {
        timeout: 60_000,
      })
      .toBe(true);
    await gotoHydrated(page, "/servers/rebooter");
    await expect(page.locator(".page-head").getByText("Reboot required")).toBeVisible();
    const reboot = page.getByRole("button", { name: "Reboot (required)" });
    await expect(reboot).toBeEnabled();
    await expect(reboot).toHaveClass(/reboot-needed/);
    await page.screenshot({ path: join(SCREENSHOTS, "server-reboot-required.png"), fullPage: true });

    // Dismissing the confirmation queues nothing.
    page.once("dialog", (dialog) => dialog.dismiss());
    await reboot.click();
    await expect(page.getByText(/Queued Reboot/)).toHaveCount(0);

    page.once("dialog", (dialog) => {
      expect(dialog.message()).toContain("Reboot this machine now?");
      return dialog.accept();
    });
    await reboot.click();
    const queued = page.getByRole("status").filter({ hasText: "Queued Reboot" });
    await expect(queued).toBeVisible();
    await expect.poll(() => existsSync(note), { timeout: 30_000 }).toBe(true);
    // The command answered; the machine is going down: running, and the apt buttons
    // wait for it.
    await expect(queued).toContainText("Running");
    await expect(page.getByRole("button", { name: "Refresh package list" })).toBeDisabled();
    await expect(page.getByText(/Buttons are disabled while Reboot/)).toBeVisible();
    await page.screenshot({ path: join(SCREENSHOTS, "server-rebooting.png"), fullPage: true });

    // Down, and up again from a new boot without the reboot-required note.
    await shutDown(agent);
    rmSync(note);
    rmSync(join(root, "run/reboot-required"));
    rmSync(join(root, "run/reboot-required.pkgs"));
    writeFileSync(e2e.bootIdFile, `${SECOND_BOOT}\n`);
    agent = startAgent(baseURL!, token, undefined, root);

    // The page follows live.
    await expect(queued).toContainText("Completed", { timeout: 30_000 });
    await expect(page.locator(".page-head").getByText("Reboot required")).toHaveCount(0);
    await expect(page.getByRole("button", { name: "Reboot", exact: true })).toBeEnabled();
    await expect(page.getByRole("button", { name: "Reboot", exact: true })).toHaveClass(/reboot-optional/);

    // The action page says how it ended.
    await queued.getByRole("link").click();
    await expect(page.getByText(`boot ${SECOND_BOOT}`)).toBeVisible();
    await expect(page.getByText(FIRST_BOOT)).toBeVisible();
  } finally {
    agent.kill("SIGTERM");
  }
});
