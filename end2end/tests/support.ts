import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** What start-server.sh prepared: the sandbox roots and an API token. */
export const e2e: {
  root: string;
  bareRoot: string;
  fleetRoots: string[];
  /** The host reboot.spec.ts reboots, and the file its kernel boot id is read from. */
  rebootRoot: string;
  bootIdFile: string;
  apiToken: string;
  user: string;
  password: string;
} = JSON.parse(
  readFileSync(join(__dirname, "..", ".state", "e2e.json"), "utf8"),
);

/** Signs in through the login form's endpoint; the cookie lands in the context that
 * `request` belongs to (`page.request` shares the page's cookies). */
export async function login(request: APIRequestContext) {
  const response = await request.post("/login", {
    form: { username: e2e.user, password: e2e.password, next: "/" },
    maxRedirects: 0,
  });
  expect(response.status()).toBe(303);
}

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

/** Starts the real agent inside the sandbox root (chroot), reporting to the server.
 * The token goes in a root-only file, as the dashboard tells admins to do: a
 * command line is readable by every local user. */
export function startAgent(baseURL: string, token: string, stateDir?: string, root: string = e2e.root): ChildProcess {
  const dir = join(root, "etc", "homelab-agent");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const name = `token-${token.slice(4, 12)}`;
  writeFileSync(join(dir, name), `${token}\n`, { mode: 0o600 });
  // A second agent in the same root keeps its own state (its running action).
  const state = stateDir ? ["--state-dir", stateDir] : [];
  return spawn(
    "chroot",
    [root, "/usr/local/bin/homelab-agent", "--server", baseURL, "--token-file", `/etc/homelab-agent/${name}`, ...state],
    { stdio: "inherit", env: { ...process.env, RUST_LOG: "warn" } },
  );
}

let demo: { token: string; agent: ChildProcess } | undefined;

/** The sandbox host as server `demo` with its real agent running; made once per run
 * (one worker), shared by the spec files that need it. */
export async function demoHost(request: APIRequestContext, baseURL: string): Promise<string> {
  if (!demo) {
    // A failed test restarts the worker (and stops its agent): the server is
    // there already, and gets a new token for the new agent.
    const headers = { Authorization: `Bearer ${e2e.apiToken}` };
    const existing = await request.get("/api/v1/servers/demo", { headers });
    const token =
      existing.status() === 200
        ? (await (await request.post("/api/v1/servers/demo/agent-token", { headers })).json()).agent_token
        : await addServer(request, "demo", "Demo host");
    demo = { token, agent: startAgent(baseURL, token) };
    process.on("exit", () => demo?.agent.kill("SIGTERM"));
  }
  return demo.token;
}

/** The JSON API with the run's token. */
export function api(request: APIRequestContext) {
  const headers = { Authorization: `Bearer ${e2e.apiToken}` };
  return {
    get: async (path: string) => (await request.get(path, { headers })).json(),
    post: (path: string, data: unknown) => request.post(path, { headers, data }),
    put: (path: string, data: unknown) => request.put(path, { headers, data }),
  };
}

/** Waits until action `id` has ended, and returns it. */
export async function finished(request: APIRequestContext, id: number) {
  let action: { status: string } & Record<string, unknown> = { status: "" };
  await expect(async () => {
    action = await api(request).get(`/api/v1/actions/${id}`);
    expect(["completed", "failed"]).toContain(action.status);
  }).toPass({ timeout: 60_000 });
  return action;
}

/** The newest action on server `demo`. */
export async function newestAction(request: APIRequestContext) {
  const page = await api(request).get("/api/v1/actions?server_id=demo&limit=1");
  return page.actions[0];
}
