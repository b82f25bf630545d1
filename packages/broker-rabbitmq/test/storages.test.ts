import { randomBytes } from "node:crypto";
import { QueueTasks, type Storage, silentLogger } from "@qtasks/core";
import { PostgresStorage } from "@qtasks/storage-postgres";
import { RedisStorage } from "@qtasks/storage-redis";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RabbitMQBroker } from "../src";
import { AMQP_URL, deleteQueues, uniquePrefix } from "./helpers";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const DATABASE_URL = process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test";

const prefix = uniquePrefix("storages");
const tag = randomBytes(6).toString("hex");
const redisPrefix = `qtasks-test:{rabbitmq-${tag}}`;
const schema = `qt_test_rabbitmq_${tag}`;
const apps: QueueTasks[] = [];
let n = 0;

const storages: { name: string; make: () => Storage }[] = [
  { name: "RedisStorage", make: () => new RedisStorage({ url: REDIS_URL, prefix: redisPrefix }) },
  { name: "PostgresStorage", make: () => new PostgresStorage({ connectionString: DATABASE_URL, schema }) },
];

function makeApp(storage: Storage) {
  const queue = `${prefix}.${++n}`;
  const app = new QueueTasks({
    name: "storages",
    broker: new RabbitMQBroker({ url: AMQP_URL, queue, connectionName: queue }),
    storage,
    logger: silentLogger,
  });
  apps.push(app);
  return app;
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop({ timeout: 2 })));
});

afterAll(async () => {
  await deleteQueues(prefix);
  const r = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `qtasks-test:{rabbitmq-${tag}}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
});

describe.each(storages)("RabbitMQBroker with $name", ({ make }) => {
  it("runs tasks, and results are waited for", async () => {
    const app = makeApp(make());
    const mul = app.task({ name: "mul" }, async (x: number, y: number) => x * y);
    await app.start({ concurrency: 10 });
    const handles = await mul.addTasks(Array.from({ length: 100 }, (_, i) => [i, 3] as [number, number]));
    expect(await Promise.all(handles.map((h) => h.result({ timeout: 30 })))).toEqual(
      Array.from({ length: 100 }, (_, i) => i * 3),
    );
    expect((await app.get(handles[7]!.uuid))?.status).toBe("success");
  });

  it("drains a backlog of mixed priorities highest first", async () => {
    const app = makeApp(make());
    const order: number[] = [];
    const rec = app.task({ name: "rec" }, (p: number) => {
      order.push(p);
    });
    await app.start({ worker: false });
    const prios = [0, 3, -2, 5, 1, -5, 4, 2, 0, -1, 3, 5];
    const handles = [];
    for (const p of prios) handles.push(await rec.with({ priority: p }).addTask(p));
    // A second app on the same broker queue and storage runs the backlog with one slot.
    const worker = new QueueTasks({
      name: "storages",
      broker: new RabbitMQBroker({ url: AMQP_URL, queue: `${prefix}.${n}` }),
      storage: make(),
      logger: silentLogger,
    });
    apps.push(worker);
    worker.task({ name: "rec" }, (p: number) => {
      order.push(p);
    });
    await worker.start({ concurrency: 1 });
    await Promise.all(handles.map((h) => h.result({ timeout: 30 })));
    expect(order).toEqual([...prios].sort((a, z) => z - a));
  });
});
