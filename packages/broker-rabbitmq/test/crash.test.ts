import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { MemoryStorage, QueueTasks, silentLogger } from "@qtasks/core";
import { RedisStorage } from "@qtasks/storage-redis";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RabbitMQBroker } from "../src";
import { AMQP_URL, ctx, deleteQueues, eventually, memoryLogger, uniquePrefix } from "./helpers";

const prefix = uniquePrefix("crash");
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const redisTag = `rabbitmq-crash-${randomBytes(6).toString("hex")}`;
const redisPrefix = `qtasks-test:{${redisTag}}`;
const fixture = fileURLToPath(new URL("./fixtures/worker-child.ts", import.meta.url));
const children: ChildProcess[] = [];
const apps: QueueTasks[] = [];

function child(env: Record<string, string>, onMessage: (m: Record<string, unknown>) => void): ChildProcess {
  const c = spawn(process.execPath, ["--import", "tsx", fixture], {
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    env: { ...process.env, AMQP_URL, ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  c.on("message", (m) => onMessage(m as Record<string, unknown>));
  children.push(c);
  return c;
}

function exited(c: ChildProcess): Promise<NodeJS.Signals | number | null> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve(c.signalCode ?? c.exitCode);
  return new Promise((r) => c.once("exit", (code, signal) => r(signal ?? code)));
}

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await Promise.all(apps.splice(0).map((a) => a.stop({ timeout: 2 })));
});
afterAll(async () => {
  await deleteQueues(prefix);
  const r = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `qtasks-test:{${redisTag}}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
});

describe("workers killed with SIGKILL", () => {
  it("a second worker finishes the 200 tasks a killed worker held in flight; none lost (Redis storage)", async () => {
    const queue = `${prefix}.sigkill`;
    const storage = () => new RedisStorage({ url: REDIS_URL, prefix: redisPrefix });
    const client = new QueueTasks({
      name: "crash",
      broker: new RabbitMQBroker({ url: AMQP_URL, queue, connectionName: `${queue} client` }),
      storage: storage(),
      logger: silentLogger,
    });
    apps.push(client);
    const work = client.task({ name: "work" }, (i: number) => i);
    await client.start({ worker: false });
    const started = new Set<number>();
    const c = child(
      {
        QTASKS_TEST_QUEUE: queue,
        QTASKS_TEST_MODE: "hang",
        QTASKS_TEST_CONCURRENCY: "200",
        QTASKS_TEST_REDIS_PREFIX: redisPrefix,
      },
      (m) => {
        if (typeof m.started === "number") started.add(m.started);
      },
    );
    const handles = await work.addTasks(Array.from({ length: 200 }, (_, i) => [i] as [number]));
    await eventually(() => started.size === 200, 30_000, "200 tasks in flight in the child");
    expect((await client.get(handles[0]!.uuid))?.status).toBe("process");
    c.kill("SIGKILL");
    expect(await exited(c)).toBe("SIGKILL");

    // A second worker takes over: RabbitMQ redelivers what the dead connection held.
    const runs = new Map<number, number>();
    const second = new QueueTasks({
      name: "crash",
      broker: new RabbitMQBroker({ url: AMQP_URL, queue, connectionName: `${queue} second` }),
      storage: storage(),
      logger: silentLogger,
    });
    apps.push(second);
    second.task({ name: "work" }, (i: number) => {
      runs.set(i, (runs.get(i) ?? 0) + 1);
      return i;
    });
    await second.start({ concurrency: 50 });
    const results = await Promise.all(handles.map((h) => h.result({ timeout: 60 })));
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // None lost; each ran once more here after its unfinished run in the killed child, so the
    // duplicates are exactly the in-flight count.
    expect(runs.size).toBe(200);
    expect([...runs.values()].every((k) => k === 1)).toBe(true);
    const record = await client.get(handles[0]!.uuid);
    expect(record).toMatchObject({ status: "success", attempt: 2 });
  });

  it("dead-letters a poison task that kills its worker every time after exactly the delivery limit", async () => {
    const queue = `${prefix}.poison`;
    const limit = 3;
    const broker = new RabbitMQBroker({
      url: AMQP_URL,
      queue,
      connectionName: `${queue} parent`,
      deliveryLimit: limit,
    });
    await broker.start(ctx(memoryLogger()));
    try {
      const client = new QueueTasks({
        name: "crash",
        broker,
        storage: new MemoryStorage(),
        logger: silentLogger,
      });
      apps.push(client);
      const poison = client.task({ name: "poison" }, () => undefined);
      await client.start({ worker: false });
      const h = await poison.addTask();
      let ran = 0;
      let dead: unknown;
      for (let i = 0; i < limit + 2 && dead === undefined; i++) {
        const c = child(
          { QTASKS_TEST_QUEUE: queue, QTASKS_TEST_MODE: "poison", QTASKS_TEST_LIMIT: String(limit) },
          (m) => {
            if (m.ran) ran++;
            if (m.deadLettered) dead = m.deadLettered;
          },
        );
        const end = await Promise.race([
          exited(c),
          eventually(() => dead !== undefined, 20_000, "a dead letter or a crash").then(() => "dead"),
        ]);
        if (end === "dead") c.kill("SIGKILL");
      }
      expect(ran).toBe(limit);
      expect(dead).toMatchObject({ uuid: h.uuid, reason: "delivery-limit" });
      const letters = await eventually(async () => {
        const l = await broker.listDeadLetters();
        return l.length > 0 ? l : undefined;
      });
      expect(letters.map((l) => [l.id, l.reason])).toEqual([[h.uuid, "delivery-limit"]]);
    } finally {
      await broker.stop();
    }
  });
});
