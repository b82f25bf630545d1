import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const dir = fileURLToPath(new URL("..", import.meta.url));

/** Runs the demo (`pnpm demo`) with extra env and returns what it printed. */
async function demo(env: Record<string, string> = {}, args: string[] = []): Promise<string> {
  const { stdout } = await run("npx", ["tsx", "src/main.ts", ...args], {
    cwd: dir,
    env: { ...process.env, QTASKS_LOG_LEVEL: "warn", ...env },
    timeout: 120_000,
  });
  return stdout;
}

/** What every run of the demo must show, whatever the broker and storage. */
function expectNarrative(out: string): void {
  // Priorities: the plugin's bump first, FIFO within a priority, lowest last.
  expect(out).toContain("started them in this order: vip > express > express-2 > gift > standard > bulk");
  // Echo task, self and ctx, nested tasks.
  expect(out).toContain('self: {"taskName":"place_order","priority":5');
  expect(out).toMatch(/ctx: \{"taskUuid":"[0-9a-f-]{36}","attempt":1,"shop":"qtasks demo shop"/);
  expect(out).toContain('"metadataStatus":"process"');
  expect(out).toContain('{"sku":"MUG-01","quantity":2,"bin":"B-62","checkedBy":"reserve_stock middleware"}');
  expect(out).toContain(`first record ended "retry"`);
  expect(out).toMatch(/"currency":"EUR","executor":"TimingExecutor"/);
  expect(out).toContain("parentUuid = true");
  // Streaming: three outputs, then the generator's return value.
  expect(out.match(/<- packed (MUG-01|TEA-07)/g)).toHaveLength(3);
  expect(out).toContain('final result: {"boxes":2,"log":["packed MUG-01","packed MUG-01","packed TEA-07"]}');
  expect(out).toMatch(/ran (1\.\d|2\.\d) s after it was enqueued/);
  // Cancellation, three ways.
  expect(out).toContain("cancelled before it ran: cancelled");
  expect(out).toContain("the client cancels it: requested");
  expect(out).toContain("cancel (customer closed the tab)");
  expect(out).toContain("cancel (coupon EXPIRED10 has expired)");
  // Failures.
  expect(out).toContain("maxTime 0.3 s on a hung call: error TaskTimeoutError");
  expect(out).toContain("an error not in retryOnExc: error UnknownSkuError, retries 0");
  expect(out).toContain("rejects with TaskFailedError");
  expect(out).toContain('"review":"manual"');
  expect(out).toContain('{"refused":"customer is blocked"}');
  expect(out).toContain('"retry":1');
  expect(out).toContain("done.");
}

describe("the example app (pnpm demo)", () => {
  it("runs every feature on the in-memory default and prints the narrative", async () => {
    const out = await demo();
    expect(out).toContain('app "example" on broker=memory storage=memory, worker in-process');
    expectNarrative(out);
    expect(out).toMatch(/event task:retry: reserve_stock failed \(WarehouseBusyError\)/);
    expect(out).toContain("task:start x20");
    expect(out).toContain(
      'finished runs counted by the plugin: {"success":15,"retry":1,"cancel":2,"error":2}',
    );
    expect(out).toContain(
      'statuses in storage: {"new":0,"process":0,"success":15,"error":2,"cancel":3,"retry":1}',
    );
  });

  it("refuses a worker in another process on the in-memory default, with a clear message", async () => {
    const err = await demo({}, ["--worker=process"]).catch((e: { stderr: string }) => e);
    expect(typeof err).toBe("object");
    expect((err as { stderr: string }).stderr).toContain("needs a shared broker and storage");
  });
});
