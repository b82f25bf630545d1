import { randomUUID } from "node:crypto";
import {
  type FusedOperations,
  MemoryStorage,
  type NewTaskRecord,
  QueueTasks,
  silentLogger,
  type TaskEnvelope,
} from "@qtasks/core";
import { REDIS_STORAGE_FUSION, RedisStorage, type RedisStorageFusion } from "@qtasks/storage-redis";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RedisBroker } from "../src";
import { STORAGE_FUSION, type StorageFusion } from "../src/fusion";
import { ctx, deletePrefix, globEscape, REDIS_URL, scanKeys } from "./helpers";

// One app name per test file: broker keys qtasks:{<app>}:broker:..., storage keys qtasks:{<app>}:s:...
const appName = `fuse-${randomUUID().slice(0, 8)}`;
const redis = new Redis(REDIS_URL);
const stops: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  await deletePrefix(redis, `qtasks:{${appName}`); // also qtasks:{<app>-app}
  await deletePrefix(redis, `other:{${appName}-x}`);
  expect(await scanKeys(redis, `*${globEscape(`{${appName}`)}*`)).toEqual([]);
  redis.disconnect();
});

async function pair(storageOptions: ConstructorParameters<typeof RedisStorage>[0] = {}) {
  const broker = new RedisBroker({ url: REDIS_URL, sweepIntervalMs: 200 });
  const storage = new RedisStorage({ url: REDIS_URL, ...storageOptions });
  await storage.start(ctx(appName));
  await broker.start(ctx(appName));
  stops.push(
    () => broker.stop(),
    () => storage.stop(),
  );
  return { broker, storage };
}

function task(): { record: NewTaskRecord; envelope: TaskEnvelope } {
  const uuid = randomUUID();
  return {
    record: { uuid, taskName: "t", priority: 0, args: [1], retries: 0, tags: [], extra: {} },
    envelope: { v: 1, uuid, taskName: "t", args: [1], priority: 0, retries: 0, enqueuedAt: Date.now() },
  };
}

async function fused(): Promise<{ broker: RedisBroker; storage: RedisStorage; ops: FusedOperations }> {
  const { broker, storage } = await pair();
  const ops = broker.fuse(storage);
  expect(ops).toBeDefined();
  return { broker, storage, ops: ops! };
}

describe("RedisBroker.fuse", () => {
  it("the storage's surface is the one the broker reads (same symbol, same shape)", async () => {
    expect(STORAGE_FUSION).toBe(REDIS_STORAGE_FUSION);
    const { storage } = await pair();
    const surface: RedisStorageFusion = storage[REDIS_STORAGE_FUSION]();
    // Compile-time: what the storage offers satisfies what the broker expects.
    const asBroker: StorageFusion = surface;
    expect(Object.keys(asBroker).sort()).toEqual(
      ["addCall", "beginHead", "client", "decodeBegin", "finishCall", "prefix", "scripts"].sort(),
    );
  });

  it("fuses only with a started RedisStorage on the same server, database and hash tag", async () => {
    const { broker, storage } = await pair();
    expect(broker.fuse(storage)).toBeDefined();
    expect(broker.fuse(new MemoryStorage())).toBeUndefined();
    expect(broker.fuse(new RedisStorage({ url: REDIS_URL }))).toBeUndefined(); // not started
    const otherTag = (await pair({ prefix: `other:{${appName}-x}` })).storage;
    expect(broker.fuse(otherTag)).toBeUndefined();
    const otherDb = (await pair({ url: `${REDIS_URL.replace(/\/\d*$/, "")}/1` })).storage;
    expect(broker.fuse(otherDb)).toBeUndefined();
  });

  it("enqueue writes the records and publishes the envelopes in one step", async () => {
    const { broker, storage, ops } = await fused();
    const items = [task(), task(), task()];
    await ops.enqueue(
      items.map((x) => x.record),
      items.map((x) => ({ envelope: x.envelope })),
    );
    for (const x of items) expect((await storage.get(x.record.uuid))?.status).toBe("new");
    expect((await broker.stats()).ready[0]).toBe(3);
    const claimed = await broker.claim(10, { waitSeconds: 0 });
    expect(claimed.map((d) => d.envelope.uuid)).toEqual(items.map((x) => x.record.uuid));
    for (const d of claimed) await broker.ack(d);
  });

  it("enqueue refuses a value that cannot be stored before writing anything", async () => {
    const { broker, storage, ops } = await fused();
    const bad = task();
    bad.record.args = [10n];
    await expect(ops.enqueue([bad.record], [{ envelope: bad.envelope }])).rejects.toThrow();
    expect(await storage.get(bad.record.uuid)).toBeNull();
    expect((await broker.stats()).ready[0] ?? 0).toBe(0);
  });

  it("claimAndBegin claims and begins: the record is `process` with attempt 1", async () => {
    const { storage, ops } = await fused();
    const x = task();
    await ops.enqueue([x.record], [{ envelope: x.envelope }]);
    const [got] = await ops.claimAndBegin(5, { waitSeconds: 1 });
    expect(got?.delivery.envelope.uuid).toBe(x.record.uuid);
    expect(got?.begun?.kind).toBe("started");
    if (got?.begun?.kind !== "started") throw new Error("not started");
    expect(got.begun.attempt).toBe(1);
    expect(got.begun.record.args).toEqual([1]);
    const rec = await storage.get(x.record.uuid);
    expect(rec?.status).toBe("process");
    expect(rec?.attempt).toBe(1);
    expect(await ops.finishAndAck(got.delivery, 1, { status: "success", returning: 2 })).toBe(true);
  });

  it("claimAndBegin leaves a record-less envelope unbegun and dead-letters a malformed one", async () => {
    const { broker, storage, ops } = await fused();
    const orphan = task();
    await broker.publish([{ envelope: orphan.envelope }]);
    await broker.injectRaw("not json at all");
    const got = await ops.claimAndBegin(5, { waitSeconds: 1 });
    expect(got).toHaveLength(1);
    expect(got[0]?.delivery.envelope.uuid).toBe(orphan.record.uuid);
    expect(got[0]?.begun).toBeUndefined();
    expect(await storage.get(orphan.record.uuid)).toBeNull();
    expect((await broker.listDeadLetters()).map((d) => d.reason)).toContain("malformed");
    await broker.ack(got[0]!.delivery);
  });

  it("a finished record is answered as final by claimAndBegin (a redelivery is not run again)", async () => {
    const { broker, ops } = await fused();
    const x = task();
    await ops.enqueue([x.record], [{ envelope: x.envelope }]);
    const [first] = await ops.claimAndBegin(1, { waitSeconds: 1 });
    // The worker died after the final write and before the ack: the envelope comes back.
    await redis.eval(
      "return redis.call('HSET', KEYS[1], 'status', 'success')",
      1,
      `qtasks:{${appName}}:s:task:${x.record.uuid}`,
    );
    expect(await broker.release(first!.delivery)).toBe(true);
    const [again] = await ops.claimAndBegin(1, { waitSeconds: 1 });
    expect(again?.begun?.kind).toBe("final");
    await broker.ack(again!.delivery);
  });

  it("finishAndAck writes the final record and acks; a stale attempt writes and acks nothing", async () => {
    const { broker, storage, ops } = await fused();
    const a = task();
    const b = task();
    await ops.enqueue([a.record, b.record], [{ envelope: a.envelope }, { envelope: b.envelope }]);
    const [da, db] = await ops.claimAndBegin(2, { waitSeconds: 1 });
    // Both in the same tick: one script call, each item its own answer.
    const [okA, okB] = await Promise.all([
      ops.finishAndAck(da!.delivery, 1, { status: "success", returning: "a" }),
      ops.finishAndAck(db!.delivery, 7, { status: "success", returning: "b" }),
    ]);
    expect(okA).toBe(true);
    expect(okB).toBe(false);
    const recA = await storage.get(a.record.uuid);
    expect(recA?.status).toBe("success");
    expect(recA?.returning).toBe("a");
    expect((await storage.get(b.record.uuid))?.status).toBe("process");
    // a's envelope is gone, b's is still leased (its lease decides what happens to it).
    expect((await broker.stats()).inFlight).toBe(1);
    expect(await broker.ack(da!.delivery)).toBe(false);
    expect(await broker.ack(db!.delivery)).toBe(true);
  });

  it("after SCRIPT FLUSH every script is sent again in full (EVALSHA, then EVAL on NOSCRIPT)", async () => {
    const { broker, storage, ops } = await fused();
    const x = task();
    await ops.enqueue([x.record], [{ envelope: x.envelope }]);
    // Harmless to other tests running at once: every client falls back the same way.
    await redis.script("FLUSH");
    const y = task();
    await ops.enqueue([y.record], [{ envelope: y.envelope }]); // fused, plain reply
    await redis.script("FLUSH");
    const got = await ops.claimAndBegin(5, { waitSeconds: 1 }); // fused, Buffer reply
    expect(got.map((g) => g.begun?.kind)).toEqual(["started", "started"]);
    await redis.script("FLUSH");
    for (const g of got)
      expect(await ops.finishAndAck(g.delivery, 1, { status: "success", returning: 1 })).toBe(true);
    await redis.script("FLUSH");
    expect((await broker.stats()).inFlight).toBe(0); // the broker's own scripts
    expect((await storage.get(y.record.uuid))?.status).toBe("success");
  });

  it("an app on RedisBroker + RedisStorage runs tasks, retries and results through the fused path", async () => {
    const broker = new RedisBroker({ url: REDIS_URL, sweepIntervalMs: 200 });
    const app = new QueueTasks({
      name: `${appName}-app`, // its own keys: the counts below are this app's only
      broker,
      storage: new RedisStorage({ url: REDIS_URL }),
      logger: silentLogger,
    });
    stops.push(() => app.stop({ timeout: 1 }));
    let fusedCalls = 0;
    const fuse = broker.fuse.bind(broker);
    broker.fuse = (s) => {
      const ops = fuse(s);
      if (!ops) return ops;
      fusedCalls++;
      return ops;
    };
    let tries = 0;
    const flaky = app.task({ name: "flaky", retry: 2 }, async (n: number) => {
      if (++tries < 2) throw new Error("once");
      return n * 2;
    });
    const double = app.task({ name: "double" }, async (n: number) => n * 2);
    await app.start({ concurrency: 10 });
    expect(fusedCalls).toBe(1);
    const handles = await Promise.all(Array.from({ length: 50 }, (_, i) => double.addTask(i)));
    expect(await Promise.all(handles.map((h) => h.result({ timeout: 10 })))).toEqual(
      Array.from({ length: 50 }, (_, i) => i * 2),
    );
    const h = await flaky.addTask(21);
    expect(await h.result({ timeout: 10 })).toBe(42);
    const counts = await app.storage.count();
    expect(counts.success).toBe(51);
    expect(counts.retry).toBe(1);
    expect((await broker.stats()).inFlight).toBe(0);
  });
});
