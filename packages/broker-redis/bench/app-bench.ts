/**
 * The issue-4 figures for the Redis pair, through `QueueTasks` with results stored and at-least-once
 * on: RedisBroker + RedisStorage. `pnpm --filter @qtasks/broker-redis bench:app`.
 * N = 20,000 no-op tasks (BENCH_N), median of 3 runs (BENCH_RUNS). Uses REDIS_URL (default local)
 * and a random app name whose keys it deletes afterwards.
 */
import { randomUUID } from "node:crypto";
import { QueueTasks, silentLogger } from "@qtasks/core";
import { RedisStorage } from "@qtasks/storage-redis";
import { Redis } from "ioredis";
import { RedisBroker } from "../src";

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const N = Number(process.env.BENCH_N ?? 20_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

function makeApp(name: string, concurrency = 50): QueueTasks {
  return new QueueTasks({
    name,
    broker: new RedisBroker({ url }),
    storage: new RedisStorage({ url }),
    logger: silentLogger,
    config: { maxTasksProcess: concurrency },
  });
}

async function withApps<T>(fn: (name: string) => Promise<T>): Promise<T> {
  const name = `bench-${randomUUID().slice(0, 8)}`;
  try {
    return await fn(name);
  } finally {
    const r = new Redis(url);
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `*{${name}}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== "0");
    r.disconnect();
  }
}

const now = () => performance.timeOrigin + performance.now();

async function singleAdd(): Promise<number> {
  return withApps(async (name) => {
    const client = makeApp(name);
    const t = client.task({ name: "noop" }, () => undefined);
    await client.connect();
    const n = Math.min(N, 10_000);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await t.addTask();
    const rate = n / ((performance.now() - t0) / 1000);
    await client.stop();
    return rate;
  });
}

async function bulkAdd(): Promise<number> {
  return withApps(async (name) => {
    const client = makeApp(name);
    const t = client.task({ name: "noop" }, () => undefined);
    await client.connect();
    const t0 = performance.now();
    for (let i = 0; i < N; i += 1000) await t.addTasks(Array.from({ length: 1000 }, () => [] as []));
    const rate = N / ((performance.now() - t0) / 1000);
    await client.stop();
    return rate;
  });
}

async function drain(concurrency = 50): Promise<number> {
  return withApps(async (name) => {
    const client = makeApp(name);
    const t = client.task({ name: "noop" }, () => undefined);
    await client.connect();
    for (let i = 0; i < N; i += 1000) await t.addTasks(Array.from({ length: 1000 }, () => [] as []));
    await client.stop();
    const worker = makeApp(name, concurrency);
    worker.task({ name: "noop" }, () => undefined);
    let done = 0;
    const finished = new Promise<void>((resolve) =>
      worker.events.on("task:success", () => {
        if (++done === N) resolve();
      }),
    );
    const t0 = performance.now();
    await worker.start();
    await finished;
    const rate = N / ((performance.now() - t0) / 1000);
    await worker.stop();
    return rate;
  });
}

/** add -> handler start at a steady 500/s for 10 s: p50 and p99 in ms. */
async function latency(rate = 500, seconds = 10): Promise<{ p50: number; p99: number }> {
  return withApps(async (name) => {
    const lat: number[] = [];
    const worker = makeApp(name);
    worker.task({ name: "stamp" }, (sentAt: number) => {
      lat.push(now() - sentAt);
    });
    await worker.start();
    const client = makeApp(name);
    const stamp = client.task({ name: "stamp" }, (_sentAt: number) => undefined);
    await client.connect();
    const total = rate * seconds;
    const t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const wait = t0 + (i * 1000) / rate - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await stamp.addTask(now());
    }
    while (lat.length < total) await new Promise((r) => setTimeout(r, 20));
    await client.stop();
    await worker.stop();
    lat.sort((a, b) => a - b);
    const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
    return { p50: q(0.5), p99: q(0.99) };
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function take(label: string, fn: () => Promise<number>): Promise<void> {
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) xs.push(await fn());
  console.log(`${label}: ${Math.round(median(xs)).toLocaleString("en-US")} /s`, xs.map(Math.round));
}

const only = process.env.BENCH_ONLY;
if (!only || only === "add") await take("single addTask", singleAdd);
if (!only || only === "bulk") await take("bulk addTasks (1000 per call)", bulkAdd);
if (!only || only === "drain") await take("drain, concurrency 50", () => drain(50));
if (only && only !== "latency") process.exit(0);
const ls: { p50: number; p99: number }[] = [];
for (let i = 0; i < RUNS; i++) ls.push(await latency());
console.log(
  `add -> handler start at 500/s: p50 ${median(ls.map((l) => l.p50)).toFixed(2)} ms, p99 ${median(ls.map((l) => l.p99)).toFixed(2)} ms`,
  ls.map((l) => `${l.p50.toFixed(2)}/${l.p99.toFixed(2)}`),
);
