import { MemoryStorage, QueueTasks, silentLogger, TaskFailedError } from "@qtasks/core";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RedisBroker } from "../src";
import { deletePrefix, globEscape, REDIS_URL, scanKeys, testPrefix } from "./helpers";

const prefix = testPrefix("e2e");
const redis = new Redis(REDIS_URL);
const apps: QueueTasks[] = [];

function app(options: { concurrency?: number; leaseSeconds?: number } = {}) {
  const a = new QueueTasks({
    name: "e2e",
    broker: new RedisBroker({ url: REDIS_URL, prefix, leaseSeconds: options.leaseSeconds ?? 5 }),
    storage: new MemoryStorage(),
    logger: silentLogger,
    config: { maxTasksProcess: options.concurrency ?? 10 },
  });
  apps.push(a);
  return a;
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop({ timeout: 1 })));
  await deletePrefix(redis, prefix);
});
afterAll(async () => {
  expect(await scanKeys(redis, `${globEscape(prefix)}*`)).toEqual([]);
  redis.disconnect();
});

describe("QueueTasks + MemoryStorage + RedisBroker", () => {
  it("runs tasks, single and bulk, and returns typed results", async () => {
    const a = app();
    const add = a.task({ name: "add" }, async (x: number, y: number) => x + y);
    await a.start();
    expect(await (await add.addTask(2, 3)).result({ timeout: 10 })).toBe(5);
    const handles = await add.addTasks(Array.from({ length: 200 }, (_, i) => [i, i] as [number, number]));
    const results = await Promise.all(handles.map((h) => h.result({ timeout: 20 })));
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => 2 * i));
    const stats = await a.broker.stats();
    expect(stats).toMatchObject({ ready: {}, inFlight: 0, delayed: 0 });
  });

  it("honours priorities through Redis (one slot, a backlog)", async () => {
    const a = app({ concurrency: 1 });
    const order: string[] = [];
    const rec = a.task({ name: "rec" }, (label: string) => {
      order.push(label);
    });
    // Enqueued before the worker starts, so the whole backlog is waiting in Redis.
    const hs = [
      await rec.with({ priority: 0 }).addTask("p0-a"),
      await rec.with({ priority: 9 }).addTask("p9"),
      await rec.with({ priority: -5 }).addTask("pm5"),
      await rec.with({ priority: 0 }).addTask("p0-b"),
      await rec.with({ priority: 3 }).addTask("p3"),
    ];
    await a.start();
    await Promise.all(hs.map((h) => h.result({ timeout: 10 })));
    expect(order).toEqual(["p9", "p3", "p0-a", "p0-b", "pm5"]);
  });

  it("runs a delayed task after its delay, and records failures and retries", async () => {
    const a = app();
    const t0 = Date.now();
    const later = a.task({ name: "later" }, () => Date.now());
    let calls = 0;
    const flaky = a.task({ name: "flaky", retry: 2 }, () => {
      calls++;
      if (calls < 3) throw new Error("not yet");
      return "ok";
    });
    const boom = a.task({ name: "boom" }, () => {
      throw new Error("boom");
    });
    await a.start();
    const h = await later.with({ delay: 0.5 }).addTask();
    expect((await h.result({ timeout: 10 })) - t0).toBeGreaterThanOrEqual(490);
    expect(await (await flaky.addTask()).result({ timeout: 20 })).toBe("ok");
    await expect((await boom.addTask()).result({ timeout: 10 })).rejects.toBeInstanceOf(TaskFailedError);
  });
});
