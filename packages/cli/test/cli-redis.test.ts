import { randomUUID } from "node:crypto";
import { RedisBroker } from "@qtasks/broker-redis";
import { QueueTasks, silentLogger } from "@qtasks/core";
import { RedisGlobalConfig, RedisStorage } from "@qtasks/storage-redis";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Cli, fixture, jsonOut, runCli, STACK_FRAME } from "./helpers";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const APP = fixture("redis-app.ts");
// One random prefix per test file; each test gets its own app name (and so its own keys) under it.
const RUN = `cli-${randomUUID().slice(0, 8)}`;
let counter = 0;

const clients: QueueTasks[] = [];
const children: Cli[] = [];

/** A client app in this (test) process, on the same Redis keys as the CLI workers of `name`. */
async function client(name: string): Promise<QueueTasks> {
  const app = new QueueTasks({
    name,
    broker: new RedisBroker({ url: REDIS_URL }),
    storage: new RedisStorage({ url: REDIS_URL }),
    globalConfig: new RedisGlobalConfig({ url: REDIS_URL }),
    logger: silentLogger,
  });
  clients.push(app);
  await app.start({ worker: false });
  return app;
}

function newName(): string {
  counter++;
  return `${RUN}-${counter}`;
}

function worker(name: string, args: string[] = [], env: Record<string, string> = {}): Cli {
  const cli = new Cli(["run", "--app", APP, ...args], { REDIS_URL, FIXTURE_APP_NAME: name, ...env });
  children.push(cli);
  return cli;
}

function cli(name: string, args: string[]) {
  return runCli([...args, "--app", APP], { REDIS_URL, FIXTURE_APP_NAME: name });
}

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitedAt === undefined) c.kill("SIGKILL");
  await Promise.all(clients.splice(0).map((c) => c.stop({ timeout: 0 })));
});

afterAll(async () => {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `qtasks:{${RUN}-*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
});

describe("the CLI against Redis", () => {
  it("stats shows the queue; run processes tasks added from another process; inspect and stats show them", async () => {
    const name = newName();
    const app = await client(name);
    const high = await app.with({ priority: 5 }).addTasks("add", [
      [1, 1],
      [2, 2],
    ]);
    const low = await app.with({ priority: 0 }).addTasks("add", [
      [10, 1],
      [10, 2],
      [10, 3],
    ]);
    await app.with({ delay: 600 }).addTask("add", 0, 0);

    const before = await cli(name, ["stats", "--json"]);
    expect(before.code).toBe(0);
    const queued = jsonOut(before.stdout);
    expect(queued.queue).toEqual({
      ready: { "5": 2, "0": 3 },
      readyTotal: 5,
      delayed: 1,
      inFlight: 0,
      deadLetters: 0,
    });
    expect(queued.statuses.new).toBe(6);
    expect(queued.workers).toEqual([]);
    expect(queued.broker.name).toBe("redis");

    const w = worker(name, ["--concurrency", "4"]);
    const results = await Promise.all([...high, ...low].map((h) => h.result({ timeout: 30 })));
    expect(results).toEqual([2, 4, 11, 12, 13]);
    const startLine = w.stderr.split("\n").find((l) => l.includes("qtasks run"));
    expect(startLine).toMatch(new RegExp(`app=${name} `));
    expect(startLine).toContain("broker=redis (redis://");
    expect(startLine).toContain('tasks=["add","fail","sleep"]');

    const inspected = await cli(name, ["inspect", high[0]!.uuid, "--json"]);
    expect(inspected.code).toBe(0);
    expect(jsonOut(inspected.stdout)).toMatchObject({
      uuid: high[0]!.uuid,
      taskName: "add",
      status: "success",
      returning: 2,
      args: [1, 1],
      priority: 5,
      attempt: 1,
    });
    const text = await cli(name, ["inspect", low[2]!.uuid]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/status\s+success/);
    expect(text.stdout).toMatch(/returning\s+13/);

    await w.waitForEvents("worker:start", 1);
    const during = await cli(name, ["stats", "--json"]);
    expect(during.code).toBe(0);
    const live = jsonOut(during.stdout);
    expect(live.statuses).toMatchObject({ new: 1, success: 5 });
    expect(live.queue).toMatchObject({ readyTotal: 0, delayed: 1 });
    expect(live.workers).toHaveLength(1);
    expect(live.workers[0]).toMatchObject({
      id: w.events("worker:start")[0]!.payload.workerId,
      concurrency: 4,
    });
    expect(live.workers[0].heartbeatAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(live.workers[0].heartbeatAgeSeconds).toBeLessThan(30);
    const human = await cli(name, ["stats"]);
    expect(human.stdout).toMatch(/workers \(1 live\)/);
    expect(human.stdout).toMatch(/heartbeat [\d.]+s ago/);

    w.kill("SIGTERM");
    expect((await w.exited).code).toBe(0);
    // A clean stop unregisters the worker at once.
    const after = jsonOut((await cli(name, ["stats", "--json"])).stdout);
    expect(after.workers).toEqual([]);
  });

  it("SIGTERM during 20 running 2-second tasks lets them finish, records them, exits 0", async () => {
    const name = newName();
    const app = await client(name);
    const handles = await app.with({}).addTasks(
      "sleep",
      Array.from({ length: 20 }, () => [2]),
    );
    const w = worker(name, ["--concurrency", "20", "--shutdown-timeout", "25"]);
    await w.waitForEvents("task:start", 20);
    const signalledAt = Date.now();
    w.kill("SIGTERM");
    expect((await w.exited).code).toBe(0);
    expect(w.exitedAt! - signalledAt).toBeLessThan(25_000);
    expect(w.events("worker:stop")[0]?.payload.released).toBe(0);
    const records = await Promise.all(handles.map((h) => app.get(h.uuid)));
    expect(records.map((r) => r?.status)).toEqual(Array(20).fill("success"));
  });

  it("a task longer than the shutdown timeout is released and another worker finishes it at once", async () => {
    const name = newName();
    const app = await client(name);
    // A long lease: if the second worker got the task by lease expiry, it would take two minutes.
    const env = { FIXTURE_LEASE_SECONDS: "120" };
    const a = worker(name, ["--shutdown-timeout", "1"], env);
    await a.waitForEvents("worker:start", 1);
    const handle = await app.addTask("sleep", 3);
    await a.waitForEvents("task:start", 1);
    const b = worker(name, [], env);
    await b.waitForEvents("worker:start", 1);

    a.kill("SIGTERM");
    const doneA = await a.exited;
    expect(doneA.code).toBe(0);
    expect(a.events("worker:stop")[0]?.payload.released).toBe(1);
    expect(a.events("task:success")).toHaveLength(0);

    await b.waitForEvents("task:start", 1, 20_000);
    expect(b.events("task:start")[0]?.payload.uuid).toBe(handle.uuid);
    expect(await handle.result({ timeout: 30 })).toBe("slept 3");
    const record = await app.get(handle.uuid);
    expect(record).toMatchObject({ status: "success", attempt: 2 });
    b.kill("SIGTERM");
    expect((await b.exited).code).toBe(0);
  });

  it("dead-letters list shows a dead letter; redrive sends it back and a worker runs it", async () => {
    const name = newName();
    const app = await client(name);
    const handle = await app.addTask("add", 7, 8);
    const [delivery] = await app.broker.claim(1, { waitSeconds: 5 });
    expect(delivery?.envelope.uuid).toBe(handle.uuid);
    expect(await app.broker.deadLetter(delivery!, "poisoned-by-test")).toBe(true);

    const list = await cli(name, ["dead-letters", "list", "--json"]);
    expect(list.code).toBe(0);
    expect(jsonOut(list.stdout)).toMatchObject([
      { id: handle.uuid, reason: "poisoned-by-test", envelope: { taskName: "add", args: [7, 8] } },
    ]);
    const text = await cli(name, ["dead-letters", "list"]);
    expect(text.stdout).toContain(`${handle.uuid}  `);
    expect(text.stdout).toContain("poisoned-by-test  add args=[7,8]");
    const stats = jsonOut((await cli(name, ["stats", "--json"])).stdout);
    expect(stats.queue.deadLetters).toBe(1);

    const unknown = await cli(name, ["dead-letters", "redrive", randomUUID()]);
    expect(unknown.code).toBe(6);

    const redrive = await cli(name, ["dead-letters", "redrive", handle.uuid, "--json"]);
    expect(redrive.code).toBe(0);
    expect(jsonOut(redrive.stdout)).toEqual({ redriven: 1, notFound: [], malformed: [] });
    expect((await app.get(handle.uuid))?.status).toBe("new");

    const w = worker(name);
    expect(await handle.result({ timeout: 30 })).toBe(15);
    const empty = await cli(name, ["dead-letters", "list"]);
    expect(empty.stdout.trim()).toBe("no dead letters");
    w.kill("SIGTERM");
    expect((await w.exited).code).toBe(0);
  });

  it("stats lists live workers; a killed worker disappears once its heartbeat expires", async () => {
    const name = newName();
    const a = worker(name, ["--concurrency", "3"]);
    const b = worker(name, ["--concurrency", "5"]);
    await a.waitForEvents("worker:start", 1);
    await b.waitForEvents("worker:start", 1);
    const idA = a.events("worker:start")[0]!.payload.workerId as string;
    const idB = b.events("worker:start")[0]!.payload.workerId as string;
    const both = jsonOut((await cli(name, ["stats", "--json"])).stdout);
    expect(both.workers.map((w: { id: string }) => w.id).sort()).toEqual([idA, idB].sort());
    expect(both.workers.find((w: { id: string }) => w.id === idA)).toMatchObject({
      concurrency: 3,
      running: 0,
    });

    // No clean stop: the worker stays listed until its heartbeat (3 x the 1 s interval) expires.
    a.kill("SIGKILL");
    await a.exited;
    const deadline = Date.now() + 30_000;
    let ids: string[] = [];
    do {
      await new Promise((r) => setTimeout(r, 1000));
      ids = jsonOut((await cli(name, ["stats", "--json"])).stdout).workers.map((w: { id: string }) => w.id);
    } while (ids.includes(idA) && Date.now() < deadline);
    expect(ids).toEqual([idB]);
    b.kill("SIGTERM");
    expect((await b.exited).code).toBe(0);
  });

  it("an unreachable Redis exits 5 with the password masked and no stack trace", async () => {
    const env = { REDIS_URL: "redis://:s3cret-pw@127.0.0.1:1/0", FIXTURE_APP_NAME: newName() };
    for (const command of ["run", "stats"]) {
      const r = await runCli([command, "--app", APP, "--connect-timeout", "3"], env);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/^qtasks: could not (connect|reach the services)/m);
      expect(r.stderr).toContain("redis://:***@127.0.0.1:1/0");
      expect(r.stderr).not.toContain("s3cret-pw");
      expect(r.stderr).not.toMatch(STACK_FRAME);
    }
  });

  it("an unreachable Redis URL without credentials or path is printed whole, brackets balanced", async () => {
    const env = { REDIS_URL: "redis://127.0.0.1:1", FIXTURE_APP_NAME: newName() };
    const r = await runCli(["stats", "--app", APP, "--connect-timeout", "3"], env);
    expect(r.code).toBe(5);
    const line = r.stderr.split("\n").find((l) => l.startsWith("qtasks: "))!;
    expect(line).toContain("broker redis (redis://127.0.0.1:1), storage redis (redis://127.0.0.1:1)");
    expect(line.split("(").length).toBe(line.split(")").length);
  });
});
