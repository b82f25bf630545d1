import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { userInfo } from "node:os";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { connect } from "amqplib";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const dir = fileURLToPath(new URL("..", import.meta.url));

/** Runs the demo (`pnpm demo`) with extra env and returns what it printed on stdout. */
async function demo(env: Record<string, string> = {}, args: string[] = []): Promise<string> {
  const { stdout } = await run("npx", ["tsx", "src/main.ts", ...args], {
    cwd: dir,
    env: { ...process.env, QTASKS_LOG_LEVEL: "warn", ...env },
    timeout: 120_000,
  });
  return stdout;
}

/** What every run of the demo must show, whatever the broker, storage and worker placement. */
function expectNarrative(out: string): void {
  // Priorities: the plugin's bump first, FIFO within a priority, lowest last.
  expect(out).toContain("started them in this order: vip > express > express-2 > gift > standard > bulk");
  // Echo task, self and ctx, nested tasks, middleware, custom executor, decode, shared task.
  expect(out).toContain(
    'self: {"description":"Reserve, charge, confirm","priority":5,"taskName":"place_order"}',
  );
  expect(out).toMatch(/ctx: \{"attempt":1,"broker":"\w+","firstReserveStatus":"retry","maxTasksProcess":4/);
  expect(out).toContain('"metadataStatus":"process","shop":"qtasks demo shop"');
  expect(out).toContain('{"bin":"B-62","checkedBy":"reserve_stock middleware","quantity":2,"sku":"MUG-01"}');
  expect(out).toMatch(/"currency":"EUR","executor":"TimingExecutor"/);
  const placed = /enqueued place_order (\S+)/.exec(out)?.[1];
  expect(out).toContain(`parentUuid = ${placed} (place_order)`);
  // Streaming: three outputs as they come, then the generator's return value.
  expect(out.match(/<- packed (MUG-01|TEA-07)/g)).toHaveLength(3);
  expect(out).toContain('final result: {"boxes":2,"log":["packed MUG-01","packed MUG-01","packed TEA-07"]}');
  expect(out).toMatch(/ran (1\.\d|2\.\d) s after it was enqueued/);
  // Cancellation, three ways.
  expect(out).toContain("cancelled before it ran: cancelled");
  expect(out).toContain("the client cancels it: requested");
  expect(out).toContain("cancel (customer closed the tab)");
  expect(out).toContain("cancel (coupon EXPIRED10 has expired)");
  // Failures and what handles them.
  expect(out).toContain("maxTime 0.3 s on a hung call: error TaskTimeoutError");
  expect(out).toContain("an error not in retryOnExc: error UnknownSkuError, retries 0");
  expect(out).toContain("rejects with TaskFailedError");
  expect(out).toContain('"review":"manual"');
  expect(out).toContain('{"refused":"customer is blocked"}');
  // Every record of the run, from storage.
  expect(out).toContain(
    'statuses in storage: {"cancel":3,"error":2,"new":0,"process":0,"retry":1,"success":15}',
  );
  expect(out).toContain("the worker dropped it unrun (its record was final)");
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
      'finished runs counted by the plugin: {"cancel":2,"error":2,"retry":1,"success":15}',
    );
  });

  it("refuses a worker in another process on the in-memory default before step 1, in one line", async () => {
    const ways: { env?: Record<string, string>; args?: string[] }[] = [
      { args: ["--worker=process"] },
      { env: { QTASKS_WORKER: "process" } },
    ];
    for (const how of ways) {
      const err = (await demo(how.env, how.args).catch((e: unknown) => e)) as {
        code: number;
        stdout: string;
        stderr: string;
      };
      expect(err.code).toBe(2);
      expect(err.stdout).not.toContain("== 1.");
      expect(err.stderr.trim()).toMatch(
        /^demo: a worker in another process needs a shared broker and storage/,
      );
      expect(err.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});

// The same app on the real services (the repo's tests require them; see scripts/ensure-services.sh).
// Each run has its own app name, so its keys, queues and schema are its own; removed afterwards.
describe("the example app on real services", () => {
  const names: string[] = [];
  const appName = () => {
    const name = `example_${randomBytes(4).toString("hex")}`;
    names.push(name);
    return name;
  };

  afterAll(async () => {
    const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
    // Like psql (and PostgresStorage), fall back to the OS user when the URL names none.
    const dbUrl = new URL(process.env.DATABASE_URL ?? "postgres://127.0.0.1:5432/test");
    if (!dbUrl.username) dbUrl.username = process.env.PGUSER ?? userInfo().username;
    const db = new pg.Client({ connectionString: dbUrl.toString() });
    await db.connect();
    const amqp = await connect(process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672");
    const channel = await amqp.createChannel();
    try {
      for (const name of names) {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `qtasks:{${name}}*`, "COUNT", 1000);
          if (keys.length > 0) await redis.del(...keys);
          cursor = next;
        } while (cursor !== "0");
        await db.query(`DROP SCHEMA IF EXISTS "qtasks_${name}" CASCADE`);
        for (const suffix of ["", ".dead", ".delay.200", ".delay.1000", ".delay.2000"])
          await channel.deleteQueue(`qtasks.${name}${suffix}`);
      }
    } finally {
      await channel.close().catch(() => {});
      await amqp.close().catch(() => {});
      await db.end();
      redis.disconnect();
    }
  });

  it("Redis broker + PostgreSQL storage, worker in this process", async () => {
    const name = appName();
    const out = await demo({ QTASKS_APP_NAME: name, QTASKS_BROKER: "redis", QTASKS_STORAGE: "postgres" });
    expect(out).toContain(`app "${name}" on broker=redis storage=postgres, worker in-process`);
    expect(out).toContain('"broker":"redis"');
    expect(out).toContain('"storage":"postgres"');
    expectNarrative(out);
  });

  it("RabbitMQ broker + Redis storage, worker in its own process through the CLI", async () => {
    const name = appName();
    const out = await demo({
      QTASKS_APP_NAME: name,
      QTASKS_BROKER: "rabbitmq",
      QTASKS_STORAGE: "redis",
      QTASKS_WORKER: "process",
    });
    expect(out).toContain(`app "${name}" on broker=rabbitmq storage=redis, worker process`);
    expect(out).toMatch(/worker started in its own process \(pid \d+\)/);
    // The worker's own event log, from the other process.
    expect(out).toMatch(/\[worker\] retry {3}reserve_stock/);
    expect(out).toMatch(/\[worker\] cancel {2}render_invoice \w+: customer closed the tab/);
    expect(out).toContain("[worker] worker stopped (0 released)");
    expect(out).toContain('"broker":"rabbitmq"');
    expectNarrative(out);
    // Nothing left behind: the cancelled email's envelope came due and was dropped before the end.
    const amqp = await connect(process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672");
    try {
      const channel = await amqp.createChannel();
      for (const suffix of ["", ".dead", ".delay.200", ".delay.1000", ".delay.2000"])
        expect((await channel.checkQueue(`qtasks.${name}${suffix}`)).messageCount, suffix).toBe(0);
    } finally {
      await amqp.close();
    }
  });
});
