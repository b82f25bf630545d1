import { randomUUID } from "node:crypto";
import { MemoryStorage, QueueTasks, silentLogger, TaskFailedError } from "@qtasks/core";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RedisBroker } from "../src";
import { deletePrefix, eventually, globEscape, REDIS_URL, scanKeys, testPrefix } from "./helpers";

const prefix = testPrefix("e2e");
const redis = new Redis(REDIS_URL);
const apps: QueueTasks[] = [];

function app(options: { concurrency?: number; leaseSeconds?: number; connectionName?: string } = {}) {
  const a = new QueueTasks({
    name: "e2e",
    broker: new RedisBroker({
      url: REDIS_URL,
      prefix,
      leaseSeconds: options.leaseSeconds ?? 5,
      connectionName: options.connectionName,
    }),
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
    // The worker acks right after the final write that resolved the results.
    await eventually(async () =>
      expect(await a.broker.stats()).toMatchObject({ ready: {}, inFlight: 0, delayed: 0 }),
    );
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

  it("the worker's connections are killed mid-run: it reconnects and everything finishes", async () => {
    const name = `qtasks-e2e-kill-${randomUUID().slice(0, 8)}`;
    const a = app({ concurrency: 20, leaseSeconds: 3, connectionName: name });
    const runs = new Map<number, number>();
    const work = a.task({ name: "work" }, async (i: number) => {
      runs.set(i, (runs.get(i) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 20));
      return i;
    });
    await a.start();
    const handles = await work.addTasks(Array.from({ length: 200 }, (_, i) => [i] as [number]));
    const kill = async () => {
      const list = (await redis.client("LIST")) as string;
      const ids = list
        .split("\n")
        .filter((l) => l.includes(` name=${name}`))
        .map((l) => /^id=(\d+)/.exec(l)![1]!);
      for (const id of ids) await redis.client("KILL", "ID", id);
      return ids.length;
    };
    await new Promise((r) => setTimeout(r, 60));
    expect(await kill()).toBe(2);
    await new Promise((r) => setTimeout(r, 100));
    await kill();
    const results = await Promise.all(handles.map((h) => h.result({ timeout: 30 })));
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(runs.size).toBe(200);
    // An ack lost with a killed connection leaves its envelope leased (or released for later): it is
    // delivered again, found final, and acked without running. The broker ends empty.
    const until = Date.now() + 20_000;
    let stats = await a.broker.stats();
    while ((stats.inFlight || stats.delayed || Object.keys(stats.ready).length) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      stats = await a.broker.stats();
    }
    expect(stats).toMatchObject({ ready: {}, inFlight: 0, delayed: 0, deadLetters: 0 });
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
  });
});
