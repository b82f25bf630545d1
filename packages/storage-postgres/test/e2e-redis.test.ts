import { randomUUID } from "node:crypto";
import { RedisBroker } from "@qtasks/broker-redis";
import { QueueTasks, silentLogger } from "@qtasks/core";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { admin, dropSchema, makeStorage, randomSchema } from "./helpers";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const schema = randomSchema();
const prefix = `qtasks-test:{pg-e2e-${randomUUID().slice(0, 8)}}:`;

async function deletePrefix(): Promise<string[]> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys: string[] = [];
    let cursor = "0";
    const pattern = `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
    do {
      const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== "0");
    if (keys.length > 0) await redis.del(...keys);
    return keys;
  } finally {
    redis.disconnect();
  }
}

afterAll(async () => {
  await deletePrefix();
  await dropSchema(schema);
});

function makeApp(): QueueTasks {
  return new QueueTasks({
    name: "pg-redis-e2e",
    broker: new RedisBroker({ url: REDIS_URL, prefix, leaseSeconds: 5 }),
    storage: makeStorage(schema),
    logger: silentLogger,
    config: { maxTasksProcess: 20 },
  });
}

describe("QueueTasks with RedisBroker and PostgresStorage", () => {
  it("a client adds tasks, a separate worker app runs them, the client is woken by LISTEN/NOTIFY", async () => {
    const worker = makeApp();
    const client = makeApp();
    const defineTasks = (a: QueueTasks) => ({
      mul: a.task({ name: "mul" }, async (x: number, y: number) => x * y),
      echo: a.task({ name: "echo" }, async (s: string) => s),
    });
    defineTasks(worker);
    const tasks = defineTasks(client);
    await worker.start();
    await client.start({ worker: false });
    try {
      const one = await tasks.mul.addTask(6, 7);
      expect(await one.result({ timeout: 20 })).toBe(42);
      const hostile = '\'; DROP TABLE x;-- $$ \\ "q"';
      expect(await (await tasks.echo.addTask(hostile)).result({ timeout: 20 })).toBe(hostile);
      const many = await tasks.mul.addTasks(
        Array.from({ length: 200 }, (_, i) => [i, 2] as [number, number]),
      );
      const results = await Promise.all(many.map((h) => h.result({ timeout: 30 })));
      expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i * 2));
      const rows = await admin<{ status: string; n: number }>(
        `SELECT status, count(*)::int AS n FROM "${schema}".tasks GROUP BY status`,
      );
      expect(rows).toEqual([{ status: "success", n: 202 }]);
    } finally {
      await client.stop({ timeout: 5 });
      await worker.stop({ timeout: 5 });
    }
  }, 90_000);
});
