import { expect, test, type Page } from "@playwright/test";
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, readFileSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { api, e2e, gotoHydrated, login } from "./support";

// Onboarding a real machine: the install line the dashboard shows after "Add server"
// is run, as the page says, in a bare Debian root (scripts/sandbox/make-bare-host.sh:
// curl, no agent, no systemd running), and the machine comes Online. The server runs
// with --public-url http://127.0.0.1:PORT (start-server.sh); the root shares the
// host's network. Runs after fleet.spec.ts: other servers may be listed already.

test.describe.configure({ mode: "serial" });

test.beforeEach(async ({ page, request }) => {
  await login(page.request);
  await login(request);
});

const id = "onboard-01";
const name = "Onboarded box";
/** The token the page showed, and the install line it gave with it. */
let shown: { token: string; line: string } | undefined;

test.afterAll(() => {
  // The agent the install line started in the background; start-server.sh's
  // cleanup stops it too, this just keeps the later spec files' machine quiet.
  const pidFile = join(e2e.bareRoot, "run", "homelab-agent.pid");
  if (existsSync(pidFile)) {
    try {
      process.kill(Number(readFileSync(pidFile, "utf8").trim()), "SIGTERM");
    } catch {
      // Already gone.
    }
  }
});

/** Runs `line` as root in the bare root on a terminal (`script` gives it one), and
 * types `token` when it asks, as an admin pastes it. Resolves with the exit code
 * and everything the terminal showed. */
function runOnTerminal(line: string, token: string): Promise<{ code: number | null; output: string }> {
  const shell = `chroot ${e2e.bareRoot} /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb /bin/sh -c '${line.replaceAll("'", `'\\''`)}'`;
  const child = spawn("script", ["-qec", shell, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  let typed = false;
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (!typed && output.includes("Paste the agent token")) {
      typed = true;
      child.stdin.write(`${token}\n`);
    }
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  return new Promise((resolve) => {
    child.on("close", (code) => resolve({ code, output }));
  });
}

/** Every process on this machine (the chroot's included): its root and command line. */
function processes(): { root: string; cmdline: string }[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map((pid) => {
      try {
        return {
          root: readlinkSync(`/proc/${pid}/root`),
          cmdline: readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " "),
        };
      } catch {
        return { root: "", cmdline: "" };
      }
    });
}

function allCommandLines(): string[] {
  return processes().map((p) => p.cmdline);
}

/** The agents running in the bare root. */
function agentsInBareRoot(): string[] {
  return processes()
    .filter((p) => p.root === e2e.bareRoot && p.cmdline.startsWith("/usr/local/bin/homelab-agent "))
    .map((p) => p.cmdline);
}

async function expectOnlineOnFleet(page: Page) {
  const row = page.getByRole("row", { name: new RegExp(name) });
  await expect(async () => {
    await page.reload();
    await expect(row.getByRole("cell").nth(0)).toContainText("Online", { timeout: 1000 });
  }).toPass({ timeout: 30_000 });
}

test("Add server shows a one-line install with the public URL and the checksum, never the token", async ({
  page,
  baseURL,
  request,
  context,
}) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await gotoHydrated(page, "/");
  await page.getByLabel("ID").fill(id);
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByRole("button", { name: "Add server" }).click();

  const note = page.getByRole("status").filter({ hasText: `Server ${id} added` });
  await expect(note).toBeVisible();
  const token = (await note.locator("pre.token").textContent())!.trim();
  expect(token).toMatch(/^hca_[0-9a-f]{64}$/);

  const install = note
    .locator(".copy-block")
    .filter({ has: page.getByRole("button", { name: "Copy the install line" }) })
    .locator("pre");
  await expect(install).toHaveText(`curl -fsSL ${baseURL}/downloads/install.sh | sh`);
  // --public-url is set, so no warning about the browser's address.
  await expect(note).not.toContainText("No public URL is set");
  // Each machine type's checksum on the page is the one the dashboard serves for it.
  const sums: Record<string, string> = {};
  for (const arch of ["x86_64", "aarch64"]) {
    const sum = await request.get(`/downloads/agents/${arch}/homelab-agent.sha256`);
    sums[arch] = (await sum.text()).split(" ")[0];
    expect(sums[arch]).toMatch(/^[0-9a-f]{64}$/);
    await expect(note.locator(".agent-facts li", { hasText: arch }).locator("code.checksum")).toHaveText(sums[arch]);
  }
  expect(sums.x86_64).not.toBe(sums.aarch64);

  // The token is shown once, in its own box: no command on the page carries it.
  const text = await note.innerText();
  expect(text.split(token).length - 1).toBe(1);
  await note.locator("summary", { hasText: "Manual steps" }).click();
  const manual = note.locator(".manual-steps");
  for (const arch of ["x86_64", "aarch64"]) {
    const steps = manual
      .locator(".copy-block")
      .filter({ has: page.getByRole("button", { name: `Copy the download steps for ${arch}` }) })
      .locator("pre");
    await expect(steps).toContainText(`curl -fsSLO ${baseURL}/downloads/agents/${arch}/homelab-agent`);
    await expect(steps).toContainText(`echo '${sums[arch]}  homelab-agent' | sha256sum -c -`);
  }
  // The token step stands alone: `cat` would swallow any command pasted after it.
  await expect(manual.getByRole("listitem").nth(1).locator("pre")).toHaveText(
    "install -d -m 0700 /etc/homelab-agent && (umask 077; cat > /etc/homelab-agent/token)",
  );
  await expect(manual).not.toContainText(token);

  // The copy button puts the line on the clipboard.
  await note.getByRole("button", { name: "Copy the install line" }).click();
  await expect(note.getByText("Copied")).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(await install.textContent());

  await note.scrollIntoViewIfNeeded();
  await page.screenshot({ path: "screenshots/onboarding-add-server.png", fullPage: true });
  shown = { token, line: (await install.textContent())! };
});

test("the install line, run as root on a bare Debian machine, brings it Online", async ({ page }) => {
  test.setTimeout(120_000);
  expect(shown, "the previous test read the line from the page").toBeDefined();
  const { token, line } = shown!;
  await gotoHydrated(page, "/");
  // Not reporting yet (whatever the never-seen badge is worded as).
  await expect(page.getByRole("row", { name: new RegExp(name) }).getByRole("cell").nth(0)).not.toContainText(
    "Online",
  );

  const run = await runOnTerminal(line, token);
  expect(run.code, run.output).toBe(0);
  // The script picked the agent for this machine's type among the two served.
  expect(run.output).toContain("downloading the agent for x86_64");
  expect(run.output).toContain("checksum OK");
  expect(run.output).toContain("systemd is not running here");
  expect(run.output).toContain("started the agent in the background");
  // Typed with echo off: the token never reached the screen.
  expect(run.output).not.toContain(token);

  // Root's files, root's alone; the token in its own file, not in any argv.
  const etc = join(e2e.bareRoot, "etc", "homelab-agent");
  for (const file of ["token", "agent.toml"]) {
    const st = statSync(join(etc, file));
    expect(st.mode & 0o777, file).toBe(0o600);
    expect(st.uid, file).toBe(0);
  }
  expect(statSync(etc).mode & 0o777).toBe(0o700);
  expect(readFileSync(join(etc, "token"), "utf8")).toBe(`${token}\n`);
  const config = readFileSync(join(etc, "agent.toml"), "utf8");
  expect(config).toContain(`server = "${new URL(page.url()).origin}"`);
  expect(config).toContain('token_file = "/etc/homelab-agent/token"');
  expect(config).not.toContain(token);
  expect(statSync(join(e2e.bareRoot, "usr", "local", "bin", "homelab-agent")).mode & 0o777).toBe(0o755);
  expect(allCommandLines().filter((cmd) => cmd.includes(token))).toEqual([]);

  await expectOnlineOnFleet(page);
  await page.screenshot({ path: "screenshots/onboarding-online.png", fullPage: true });
});

test("running the install line again updates in place and keeps the machine's own settings", async ({
  page,
  request,
}) => {
  test.setTimeout(120_000);
  const { token, line } = shown!;
  const config = join(e2e.bareRoot, "etc", "homelab-agent", "agent.toml");
  appendFileSync(config, 'allowed_actions = ["apt_update", "apt_upgrade_security"]\n');

  const run = await runOnTerminal(line, token);
  expect(run.code, run.output).toBe(0);
  expect(run.output).toContain("stopping the agent started earlier");
  const after = readFileSync(config, "utf8");
  expect(after).toContain('allowed_actions = ["apt_update", "apt_upgrade_security"]');
  expect(after.match(/^server = /gm)).toHaveLength(1);
  expect(after.match(/^token_file = /gm)).toHaveLength(1);
  // One agent, the new one.
  expect(agentsInBareRoot()).toEqual(["/usr/local/bin/homelab-agent --config /etc/homelab-agent/agent.toml "]);

  // Still reporting: a heartbeat after the second run.
  const before = Date.now();
  await expect(async () => {
    const server = await api(request).get(`/api/v1/servers/${id}`);
    expect(server.status).toBe("online");
    expect(server.last_seen_ms).toBeGreaterThan(before);
  }).toPass({ timeout: 30_000 });
  await gotoHydrated(page, "/");
  await expectOnlineOnFleet(page);
});

test("a new agent token comes with the same install line, and the line brings the machine back", async ({
  page,
  baseURL,
}) => {
  test.setTimeout(120_000);
  await gotoHydrated(page, `/servers/${id}`);
  await page.getByText("New agent token…").click();
  await page.getByLabel("The current token stops working at once").check();
  await page.getByRole("button", { name: "Give it a new token" }).click();
  const note = page.getByRole("status").filter({ hasText: "given a new agent token" });
  await expect(note).toBeVisible();
  const token = (await note.locator("pre.token").textContent())!.trim();
  expect(token).not.toBe(shown!.token);
  const install = note
    .locator(".copy-block")
    .filter({ has: page.getByRole("button", { name: "Copy the install line" }) })
    .locator("pre");
  await expect(install).toHaveText(`curl -fsSL ${baseURL}/downloads/install.sh | sh`);

  const run = await runOnTerminal((await install.textContent())!, token);
  expect(run.code, run.output).toBe(0);
  expect(readFileSync(join(e2e.bareRoot, "etc", "homelab-agent", "token"), "utf8")).toBe(`${token}\n`);
  await gotoHydrated(page, "/");
  await expectOnlineOnFleet(page);
});
