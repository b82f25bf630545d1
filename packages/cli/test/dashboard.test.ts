import { describe, expect, it } from "vitest";
import { Cli, fixture, runCli } from "./helpers";

/** Starts `qtasks dashboard` on a free port and resolves to its URL and the process. */
async function startDashboard(extra: string[] = [], env: Record<string, string> = {}) {
  const cli = new Cli(["dashboard", "--app", fixture("app.ts"), "--port", "0", ...extra], env);
  await cli.waitFor(() => /qtasks dashboard: (http:\S+)/.test(cli.stdout), "the dashboard's URL");
  const url = /qtasks dashboard: (http:\S+)/.exec(cli.stdout)![1]!;
  return { cli, url };
}

describe("qtasks dashboard", () => {
  it("serves the app read-only and stops on SIGTERM with exit 0", async () => {
    const { cli, url } = await startDashboard();
    try {
      expect(cli.stdout).toContain("(read-only)");
      const meta = (await (await fetch(`${url}api/meta`)).json()) as { app: string; actions: object };
      expect(meta.app).toBe("fixture");
      expect(meta.actions).toEqual({ cancel: false, retry: false, redrive: false });
      const page = await fetch(url);
      expect(await page.text()).toContain("assets/app.js");
      const refused = await fetch(`${url}api/dead-letters/redrive`, {
        method: "POST",
        headers: { origin: new URL(url).origin },
        body: JSON.stringify({ all: true }),
      });
      expect(refused.status).toBe(403);
    } finally {
      cli.kill("SIGTERM");
    }
    const done = await cli.exited;
    expect(done.code).toBe(0);
  });

  it("turns actions on with --actions, under a base path", async () => {
    const { cli, url } = await startDashboard(["--actions", "--base-path", "/dash"]);
    try {
      expect(new URL(url).pathname).toBe("/dash/");
      const meta = (await (await fetch(`${url}api/meta`)).json()) as { actions: object };
      expect(meta.actions).toEqual({ cancel: true, retry: true, redrive: true });
      const redrive = await fetch(`${url}api/dead-letters/redrive`, {
        method: "POST",
        headers: { origin: new URL(url).origin },
        body: JSON.stringify({ all: true }),
      });
      expect(await redrive.json()).toEqual({ redriven: 0 });
    } finally {
      cli.kill("SIGTERM");
    }
    expect((await cli.exited).code).toBe(0);
  });

  it("refuses bad flags with exit 2 and prints its own help", async () => {
    const bad = await runCli(["dashboard", "--app", fixture("app.ts"), "--port", "http"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--port must be a port number");
    const help = await runCli(["dashboard", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--actions");
    const noApp = await runCli(["dashboard"], { QTASKS_APP: undefined });
    expect(noApp.code).toBe(2);
  });
});
