import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** What start-server.sh prepared: the sandbox root and an API token. */
export const e2e: { root: string; apiToken: string } = JSON.parse(
  readFileSync(join(__dirname, "..", ".state", "e2e.json"), "utf8"),
);

/** The WebAssembly bundle sets <body data-hydrated="true"> from an effect, which
 * never runs on the server: once it is there, the page is interactive. */
export async function gotoHydrated(page: Page, path: string) {
  await page.goto(path);
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

/** Adds a server through the JSON API and returns its agent token. */
export async function addServer(request: APIRequestContext, id: string, name: string): Promise<string> {
  const response = await request.post("/api/v1/servers", {
    headers: { Authorization: `Bearer ${e2e.apiToken}` },
    data: { id, name },
  });
  expect(response.status()).toBe(201);
  return (await response.json()).agent_token;
}

/** Starts the real agent inside the sandbox root (chroot), reporting to the server. */
export function startAgent(baseURL: string, token: string): ChildProcess {
  return spawn(
    "chroot",
    [e2e.root, "/usr/local/bin/homelab-agent", "--server", baseURL, "--token", token],
    { stdio: "inherit" },
  );
}
