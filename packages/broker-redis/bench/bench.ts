/**
 * Broker throughput and latency (no storage but MemoryStorage): `pnpm --filter @qtasks/broker-redis bench`.
 * Uses REDIS_URL (default local) and a random prefix it deletes afterwards.
 */
import { randomUUID } from "node:crypto";
import { type Delivery, MemoryStorage, QueueTasks, silentLogger, type TaskEnvelope } from "@qtasks/core";
import { Redis } from "ioredis";
import { RedisBroker } from "../src";

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const N = Number(process.env.BENCH_N ?? 20_000);
const ctx = { appName: "bench", logger: silentLogger };

function env(i: number): TaskEnvelope {
  return {
    v: 1,
    uuid: randomUUID(),
    taskName: "noop",
    args: [i],
    priority: 0,
    retries: 0,
    enqueuedAt: Date.now(),
  };
}

async function withBroker<T>(fn: (b: RedisBroker, prefix: string) => Promise<T>): Promise<T> {
  const prefix = `qtasks-bench:{${randomUUID().slice(0, 8)}}:`;
  const b = new RedisBroker({ url, prefix });
  await b.start(ctx);
  try {
    return await fn(b, prefix);
  } finally {
    await b.stop();
    const r = new Redis(url);
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(
        cursor,
        "MATCH",
        `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`,
        "COUNT",
        1000,
      );
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== "0");
    r.disconnect();
  }
}

async function singlePublish(): Promise<number> {
  return withBroker(async (b) => {
    const n = Math.min(N, 10_000);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await b.publish([{ envelope: env(i) }]);
    return n / ((performance.now() - t0) / 1000);
  });
}

async function bulkPublish(): Promise<number> {
  return withBroker(async (b) => {
    const batch = 1000;
    const t0 = performance.now();
    for (let i = 0; i < N; i += batch)
      await b.publish(Array.from({ length: batch }, (_, j) => ({ envelope: env(i + j) })));
    return N / ((performance.now() - t0) / 1000);
  });
}

/** Drain N no-op tasks with concurrency 50: claim up to the free slots, ack each when "done". */
async function drain(concurrency = 50): Promise<number> {
  return withBroker(async (b) => {
    for (let i = 0; i < N; i += 1000)
      await b.publish(Array.from({ length: 1000 }, (_, j) => ({ envelope: env(i + j) })));
    let done = 0;
    let busy = 0;
    let wake: (() => void) | undefined;
    const t0 = performance.now();
    const run = async (d: Delivery) => {
      await b.ack(d);
      done++;
      busy--;
      wake?.();
    };
    while (done < N) {
      const free = concurrency - busy;
      if (free <= 0) {
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = undefined;
        continue;
      }
      const got = await b.claim(free, { waitSeconds: 1 });
      busy += got.length;
      for (const d of got) void run(d);
    }
    return N / ((performance.now() - t0) / 1000);
  });
}

/** p50/p99 from publish to claim at a steady rate (one producer broker, one consumer broker). */
async function latency(rate = 500, seconds = 5): Promise<{ p50: number; p99: number }> {
  return withBroker(async (producer, prefix) => {
    const consumer = new RedisBroker({ url, prefix });
    await consumer.start(ctx);
    const lat: number[] = [];
    const total = rate * seconds;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const got = await consumer.claim(50, { waitSeconds: 1 });
        for (const d of got) {
          lat.push(performance.now() - (d.envelope.extra?.t as number));
          void consumer.ack(d);
        }
      }
    })();
    const t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await producer.publish([{ envelope: { ...env(i), extra: { t: performance.now() } } }]);
    }
    while (lat.length < total) await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await loop;
    await consumer.stop();
    lat.sort((a, b) => a - b);
    const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
    console.log("p90", q(0.9).toFixed(2), "p95", q(0.95).toFixed(2), "max", lat[lat.length - 1]!.toFixed(2));
    return { p50: q(0.5), p99: q(0.99) };
  });
}

/** Through the real worker: QueueTasks + MemoryStorage + RedisBroker, concurrency 50, no-op tasks. */
async function appDrain(): Promise<number> {
  return withBroker(async (_b, prefix) => {
    const app = new QueueTasks({
      name: "bench",
      broker: new RedisBroker({ url, prefix }),
      storage: new MemoryStorage(),
      logger: silentLogger,
      config: { maxTasksProcess: 50 },
    });
    const noop = app.task({ name: "noop" }, () => undefined);
    await app.connect();
    const handles = [];
    for (let i = 0; i < N; i += 1000)
      handles.push(...(await noop.addTasks(Array.from({ length: 1000 }, () => [] as []))));
    const t0 = performance.now();
    await app.start();
    await Promise.all(handles.map((h) => h.result({ timeout: 120 })));
    const rate = N / ((performance.now() - t0) / 1000);
    await app.stop();
    return rate;
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const runs = Number(process.env.BENCH_RUNS ?? 3);
const res: Record<string, string> = {};
const take = async (name: string, fn: () => Promise<number>) => {
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) xs.push(await fn());
  res[name] = `${Math.round(median(xs)).toLocaleString("en-US")} /s`;
  console.log(
    name,
    res[name],
    xs.map((x) => Math.round(x)),
  );
};
await take("single publish", singlePublish);
await take("bulk publish (1000 per call)", bulkPublish);
await take("drain, concurrency 50 (claim + ack)", () => drain(50));
await take("QueueTasks drain, concurrency 50 (MemoryStorage)", appDrain);
const l = await latency();
console.log(`publish -> claim at 500/s: p50 ${l.p50.toFixed(2)} ms, p99 ${l.p99.toFixed(2)} ms`);
