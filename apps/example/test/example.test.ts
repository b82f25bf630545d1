import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const dir = fileURLToPath(new URL("..", import.meta.url));

describe("the example app", () => {
  it("runs on the in-memory default and prints its results", async () => {
    const { stdout } = await run("npx", ["tsx", "src/main.ts"], {
      cwd: dir,
      env: { ...process.env, QTASKS_LOG_LEVEL: "warn" },
    });
    expect(stdout).toContain('app "example" on broker=memory storage=memory');
    expect(stdout).toContain("accepted: true");
    expect(stdout).toContain("https://example.com/b.png");
    expect(stdout).toContain("report for 2026-11 (after 2 runs)");
    expect(stdout).toMatch(/retry: flaky_report failed/);
  });
});
