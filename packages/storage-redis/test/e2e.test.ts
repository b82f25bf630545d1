import { MemoryBroker, QueueTasks, silentLogger, TaskFailedError } from "@qtasks/core";
import { afterAll, describe, expect, it } from "vitest";
import { RedisGlobalConfig, RedisStorage } from "../src/index";
import { deletePrefix, REDIS_URL, randomPrefix } from "./helpers";

const prefix = randomPrefix("e2e");
const apps: QueueTasks[] = [];

afterAll(async () => {
  await Promise.all(apps.map((a) => a.stop({ timeout: 1 })));
  await deletePrefix(prefix);
});

function makeApp(): QueueTasks {
  const app = new QueueTasks({
    name: "e2e",
    broker: new MemoryBroker(),
    storage: new RedisStorage({ url: REDIS_URL, prefix }),
    globalConfig: new RedisGlobalConfig({ url: REDIS_URL, prefix }),
    logger: silentLogger,
  });
  apps.push(app);
  return app;
}

describe("QueueTasks with RedisStorage (MemoryBroker)", () => {
  it("runs tasks, stores results, and wakes the waiters", async () => {
    const app = makeApp();
    const add = app.task({ name: "add" }, async (x: number, y: number) => x + y);
    const fail = app.task({ name: "fail" }, async () => {
      throw new Error("nope ü");
    });
    const stream = app.task(
      { name: "stream", generateHandler: (v: unknown) => (v as number) * 10 },
      async function* () {
        yield 1;
        yield 2;
      },
    );
    await app.start();
    const handle = await add.addTask(2, 3);
    expect(await handle.result({ timeout: 10 })).toBe(5);
    const record = await app.get(handle.uuid);
    expect(record).toMatchObject({
      status: "success",
      returning: 5,
      args: [2, 3],
      taskName: "add",
      attempt: 1,
    });
    expect(record?.finishedAt).toBeInstanceOf(Date);

    const many = await add.addTasks(Array.from({ length: 100 }, (_, i) => [i, 1] as [number, number]));
    const results = await Promise.all(many.map((h) => h.result({ timeout: 20 })));
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));

    const failed = await fail.addTask();
    const err = await failed.result({ timeout: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskFailedError);
    expect((await app.get(failed.uuid))?.traceback).toContain("nope ü");

    const s = await stream.addTask();
    expect(await s.result({ timeout: 10 })).toEqual([10, 20]);
    expect(await app.storage.getOutputs(s.uuid)).toEqual([10, 20]);

    const stats = await app.stats();
    expect(stats.statuses.success).toBe(102);
    expect(stats.statuses.error).toBe(1);
    expect(stats.workers.length).toBe(1);
  });

  it("a client app waits through its own storage instance while a worker app (another instance) runs the task", async () => {
    const broker = new MemoryBroker();
    const make = () =>
      new QueueTasks({
        name: "e2e2",
        broker,
        storage: new RedisStorage({ url: REDIS_URL, prefix }),
        logger: silentLogger,
      });
    const client = make();
    const worker = make();
    apps.push(client, worker);
    const slow = worker.task({ name: "slow" }, async (ms: number) => {
      await new Promise((r) => setTimeout(r, ms));
      return `slept ${ms}`;
    });
    client.task({ name: "slow" }, async (_ms: number) => "client never runs it");
    await worker.start();
    await client.connect();
    const handles = await Promise.all([50, 100, 150].map((ms) => client.addTask<typeof slow>("slow", ms)));
    expect(await Promise.all(handles.map((h) => h.result({ timeout: 10 })))).toEqual([
      "slept 50",
      "slept 100",
      "slept 150",
    ]);
    expect((await client.get(handles[0]!.uuid))?.status).toBe("success");
  });
});
