import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { Cli, fixture, runCli } from "./helpers";

/** A port nothing listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

describe("run --metrics-port", () => {
  it("serves the @qtasks/opentelemetry metrics at /metrics while the worker runs", async () => {
    const port = await freePort();
    const cli = new Cli(["run", "--app", fixture("otel-app.ts"), "--metrics-port", String(port)], {
      FIXTURE_ENQUEUE_ADD: "3",
    });
    try {
      await cli.waitForEvents("task:success", 3);
      expect(cli.stderr).toContain(`metrics=:${port}/metrics`);
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toMatch(/^qtasks_task_succeeded_total\{qtasks_task_name="add"[^}]*\} 3$/m);
      expect(text).toMatch(/^qtasks_workers\{[^}]*\} 1$/m);
    } finally {
      cli.kill("SIGTERM");
    }
    expect((await cli.exited).code).toBe(0);
  });

  it("refuses an app without the plugin (exit 2)", async () => {
    const r = await runCli(["run", "--app", fixture("app.ts"), "--metrics-port", "9464"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--metrics-port serves the metrics of the @qtasks/opentelemetry plugin");
  });
});
