import { randomBytes } from "node:crypto";
import { QueueTasks, silentLogger } from "@qtasks/core";
import { RedisGlobalConfig, RedisStorage } from "@qtasks/storage-redis";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RedisBroker } from "../src/index";
import { REDIS_URL } from "./helpers";

// Default prefixes on both sides: broker and storage share the app's hash tag.
const appName = `e2e-broker-${randomBytes(4).toString("hex")}`;
const apps: QueueTasks[] = [];

afterAll(async () => {
  await Promise.all(apps.map((a) => a.stop({ timeout: 1 })));
  const r = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `*{${appName}}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
});

function makeApp(): QueueTasks {
  const app = new QueueTasks({
    name: appName,
    broker: new RedisBroker({ url: REDIS_URL }),
    storage: new RedisStorage({ url: REDIS_URL }),
    globalConfig: new RedisGlobalConfig({ url: REDIS_URL }),
    logger: silentLogger,
  });
  apps.push(app);
  return app;
}

describe("QueueTasks on RedisBroker + RedisStorage", () => {
  it("a client app enqueues, a worker app runs, the client waits for every result", async () => {
    const worker = makeApp();
    const client = makeApp();
    worker.task({ name: "square" }, async (n: number) => n * n);
    client.task({ name: "square" }, async (_n: number) => -1);
    await worker.start({ concurrency: 20 });
    await client.connect();
    const handles = await client.addTasks(
      Array.from({ length: 300 }, (_, i) => ({ task: "square", args: [i], priority: i % 3 })),
    );
    const results = await Promise.all(handles.map((h) => h.result({ timeout: 30 })));
    expect(results).toEqual(Array.from({ length: 300 }, (_, i) => i * i));
    const stats = await client.stats();
    expect(stats.statuses.success).toBe(300);
    expect(stats.statuses.new + stats.statuses.process + stats.statuses.error).toBe(0);
    expect(stats.workers).toHaveLength(1);
    const keys: string[] = [];
    const r = new Redis(REDIS_URL);
    try {
      let cursor = "0";
      do {
        const [next, found] = await r.scan(cursor, "MATCH", `qtasks:{${appName}}:s:task:*`, "COUNT", 1000);
        cursor = next;
        keys.push(...found);
      } while (cursor !== "0");
    } finally {
      r.disconnect();
    }
    expect(keys).toHaveLength(300);
  });
});
