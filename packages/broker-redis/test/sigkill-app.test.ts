import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { QueueTasks, silentLogger } from "@qtasks/core";
import { RedisStorage } from "@qtasks/storage-redis";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RedisBroker } from "../src";
import { deletePrefix, eventually, globEscape, REDIS_URL, scanKeys, sleep } from "./helpers";

// One app name for this file: broker keys qtasks:{<app>}:broker:..., storage keys qtasks:{<app>}:s:...
const appName = `sk-${randomUUID().slice(0, 8)}`;
const runsKey = `qtasks-test:{${appName}}:runs`;
const redis = new Redis(REDIS_URL);
const apps: QueueTasks[] = [];

function makeApp(): QueueTasks {
  const app = new QueueTasks({
    name: appName,
    broker: new RedisBroker({ url: REDIS_URL, leaseSeconds: 2, sweepIntervalMs: 200 }),
    storage: new RedisStorage({ url: REDIS_URL }),
    logger: silentLogger,
    config: { maxTasksProcess: 50 },
  });
  apps.push(app);
  return app;
}

afterAll(async () => {
  for (const a of apps) await a.stop({ timeout: 1 }).catch(() => undefined);
  await deletePrefix(redis, `qtasks:{${appName}}:`);
  await redis.del(runsKey);
  expect(await scanKeys(redis, `*${globEscape(`{${appName}}`)}*`)).toEqual([]);
  redis.disconnect();
});

describe("QueueTasks on RedisBroker + RedisStorage: a worker killed with SIGKILL", () => {
  it("200 tasks in flight at the kill: all end final once, none lost, each run at most twice", {
    timeout: 90_000,
  }, async () => {
    const producer = makeApp();
    const work = producer.task({ name: "sk.work" }, (i: number) => i);
    await producer.connect();
    const handles = await work.addTasks(Array.from({ length: 200 }, (_, i) => [i] as [number]));

    const child = spawn(
      process.execPath,
      ["--import", "tsx", fileURLToPath(new URL("./fixtures/app-worker.ts", import.meta.url))],
      {
        env: { ...process.env, REDIS_URL, QTASKS_TEST_APP: appName, QTASKS_TEST_RUNS_KEY: runsKey },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("exit", (_c, sig) => resolve(sig)),
    );
    const deadline = Date.now() + 30_000;
    while (Number(await redis.hlen(runsKey)) < 200 && Date.now() < deadline) await sleep(50);
    expect(Number(await redis.hlen(runsKey)), stderr).toBe(200);
    for (const h of handles) expect((await h.get())?.status).toBe("process");
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");

    // A second worker takes over after the leases expire.
    const worker = makeApp();
    const finals = new Map<string, number>();
    for (const event of ["task:success", "task:error", "task:cancel"] as const)
      worker.events.on(event, (p) => finals.set(p.uuid, (finals.get(p.uuid) ?? 0) + 1));
    worker.task({ name: "sk.work" }, async (i: number) => {
      await redis.hincrby(runsKey, String(i), 1);
      return i;
    });
    await worker.start();
    const results = await Promise.all(handles.map((h) => h.result({ timeout: 60 })));
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i));

    const runs = await redis.hgetall(runsKey);
    expect(Object.keys(runs)).toHaveLength(200);
    // Every task was in flight at the kill: it ran there once and here once, never more.
    expect(Object.values(runs).every((n) => Number(n) === 2)).toBe(true);
    for (const h of handles) {
      const rec = await h.get();
      expect(rec?.status).toBe("success");
      expect(rec?.attempt).toBe(2);
    }
    // No task is final twice.
    expect(finals.size).toBe(200);
    expect([...finals.values()].every((n) => n === 1)).toBe(true);
    await eventually(async () =>
      expect(await worker.broker.stats()).toMatchObject({
        ready: {},
        inFlight: 0,
        delayed: 0,
        deadLetters: 0,
      }),
    );
  });
});
