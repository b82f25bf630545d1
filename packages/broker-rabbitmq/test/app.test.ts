import { MemoryStorage, QueueTasks, silentLogger } from "@qtasks/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RabbitMQBroker, type RabbitMQBrokerOptions } from "../src";
import {
  AMQP_URL,
  closeConnectionsNamed,
  deleteQueues,
  type LogLine,
  memoryLogger,
  uniquePrefix,
} from "./helpers";

const prefix = uniquePrefix("app");
const apps: QueueTasks[] = [];
let n = 0;

function makeApp(options: Partial<RabbitMQBrokerOptions> = {}, lines?: LogLine[]) {
  const queue = `${prefix}.${++n}`;
  const broker = new RabbitMQBroker({ url: AMQP_URL, queue, connectionName: queue, ...options });
  const app = new QueueTasks({
    name: "e2e",
    broker,
    storage: new MemoryStorage(),
    logger: lines ? memoryLogger(lines) : silentLogger,
  });
  apps.push(app);
  return { app, broker, queue };
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop({ timeout: 2 })));
});
afterAll(async () => {
  await deleteQueues(prefix);
});

describe("QueueTasks + MemoryStorage + RabbitMQBroker", () => {
  it("runs tasks and waits for their results", async () => {
    const { app } = makeApp();
    const add = app.task({ name: "add" }, async (x: number, y: number) => x + y);
    await app.start({ concurrency: 5 });
    const handles = await add.addTasks(Array.from({ length: 50 }, (_, i) => [i, 1] as [number, number]));
    const results = await Promise.all(handles.map((h) => h.result({ timeout: 20 })));
    expect(results).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect((await app.get(handles[0]!.uuid))?.status).toBe("success");
  });

  it("drains a backlog of mixed priorities highest first", async () => {
    const { app } = makeApp();
    const order: number[] = [];
    const rec = app.task({ name: "rec" }, (p: number) => {
      order.push(p);
    });
    const prios = [0, 2, -3, 5, 1, 5, -1, 3, 0, 4];
    const handles = [];
    // Enqueued before any worker exists: a backlog.
    for (const p of prios) handles.push(await rec.with({ priority: p }).addTask(p));
    await app.start({ concurrency: 1 });
    await Promise.all(handles.map((h) => h.result({ timeout: 20 })));
    expect(order).toEqual([...prios].sort((a, z) => z - a));
  });

  it("runs a delayed task after its delay", async () => {
    const { app } = makeApp();
    const stamp = app.task({ name: "stamp" }, () => Date.now());
    await app.start();
    const t0 = Date.now();
    const h = await stamp.with({ delay: 0.5 }).addTask();
    expect((await app.get(h.uuid))?.status).toBe("new");
    const ranAt = await h.result({ timeout: 20 });
    expect(ranAt - t0).toBeGreaterThanOrEqual(480);
  });

  it("keeps running when the server closes its connections mid-run", async () => {
    const lines: LogLine[] = [];
    const { app, queue } = makeApp({ reconnect: { initialDelay: 0.05, maxDelay: 1 } }, lines);
    let ran = 0;
    const work = app.task({ name: "work" }, async (i: number) => {
      ran++;
      await new Promise((r) => setTimeout(r, 5));
      return i;
    });
    await app.start({ concurrency: 20 });
    const handles = await work.addTasks(Array.from({ length: 300 }, (_, i) => [i] as [number]));
    while (ran < 80) await new Promise((r) => setTimeout(r, 10));
    expect(await closeConnectionsNamed(queue)).toBeGreaterThanOrEqual(2);
    const results = await Promise.all(handles.map((h) => h.result({ timeout: 40 })));
    expect(results).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(lines.filter((l) => /unknown delivery tag|PRECONDITION_FAILED/i.test(JSON.stringify(l)))).toEqual(
      [],
    );
  });
});
