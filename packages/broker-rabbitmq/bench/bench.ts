/**
 * Throughput of the RabbitMQ broker: `pnpm --filter @qtasks/broker-rabbitmq bench`.
 * Uses AMQP_URL / REDIS_URL (default local), random queue names and a random Redis prefix, deleted
 * afterwards. BENCH_N (default 20000) envelopes per figure, BENCH_RUNS (default 3) runs, median.
 */
import { randomUUID } from "node:crypto";
import { MemoryStorage, QueueTasks, type Storage, silentLogger, type TaskEnvelope } from "@qtasks/core";
import { RedisStorage } from "@qtasks/storage-redis";
import { connect } from "amqplib";
import { Redis } from "ioredis";
import { RabbitMQBroker } from "../src";

const AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const N = Number(process.env.BENCH_N ?? 20_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONCURRENCY = 50;
const ctx = { appName: "bench", logger: silentLogger };
const made: string[] = [];

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

function queueName(): string {
  const q = `qtasks-bench.${randomUUID().slice(0, 8)}`;
  made.push(q);
  return q;
}

/** A queue holding N envelopes, published in bulk; returns the bulk publish rate. */
async function fill(queue: string): Promise<number> {
  const b = new RabbitMQBroker({ url: AMQP_URL, queue });
  await b.start(ctx);
  const t0 = performance.now();
  for (let i = 0; i < N; i += 1000)
    await b.publish(Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ envelope: env(i + k) })));
  const rate = N / ((performance.now() - t0) / 1000);
  await b.stop();
  return rate;
}

/** The baseline: a bare amqplib consumer, prefetch 50, that parses and acks every message. */
async function bareDrain(): Promise<number> {
  const queue = queueName();
  await fill(queue);
  const conn = await connect(AMQP_URL);
  const ch = await conn.createChannel();
  await ch.prefetch(CONCURRENCY);
  const t0 = performance.now();
  let n = 0;
  await new Promise<void>((resolve) => {
    void ch.consume(queue, (m) => {
      if (!m) return;
      JSON.parse(m.content.toString("utf8"));
      ch.ack(m);
      if (++n === N) resolve();
    });
  });
  const rate = N / ((performance.now() - t0) / 1000);
  await conn.close();
  return rate;
}

/** The broker alone: claim up to the free slots, ack at once. */
async function brokerDrain(): Promise<number> {
  const queue = queueName();
  await fill(queue);
  const b = new RabbitMQBroker({ url: AMQP_URL, queue });
  await b.start(ctx);
  const t0 = performance.now();
  let n = 0;
  while (n < N) {
    const ds = await b.claim(CONCURRENCY, { waitSeconds: 5 });
    await Promise.all(ds.map((d) => b.ack(d)));
    n += ds.length;
  }
  const rate = N / ((performance.now() - t0) / 1000);
  await b.stop();
  return rate;
}

/** No-op tasks through QueueTasks (worker, executor, storage writes, acks) at concurrency 50. */
async function appDrain(makeStorage: () => Storage): Promise<number> {
  const queue = queueName();
  const app = new QueueTasks({
    name: "bench",
    broker: new RabbitMQBroker({ url: AMQP_URL, queue }),
    storage: makeStorage(),
    logger: silentLogger,
  });
  const noop = app.task({ name: "noop" }, () => undefined);
  await app.start({ worker: false });
  for (let i = 0; i < N; i += 1000)
    await noop.addTasks(Array.from({ length: Math.min(1000, N - i) }, () => [] as []));
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  app.events.on("task:success", () => {
    if (++done === N) finish();
  });
  const t0 = performance.now();
  // The backlog is in place; now the worker starts draining it.
  await app.start({ concurrency: CONCURRENCY });
  await finished;
  const rate = N / ((performance.now() - t0) / 1000);
  await app.stop();
  return rate;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(label: string, fn: () => Promise<number>): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < RUNS; i++) rates.push(await fn());
  const m = median(rates);
  console.log(`${label.padEnd(58)} ${Math.round(m).toLocaleString("en").padStart(8)} /s`);
  return m;
}

const redisPrefix = `qtasks-bench:{rabbitmq-${randomUUID().slice(0, 8)}}`;
try {
  console.log(`N = ${N}, concurrency ${CONCURRENCY}, median of ${RUNS}`);
  await measure("bulk publish (1000 per call, confirmed)", () => fill(queueName()));
  const bare = await measure("drain: bare amqplib consumer (prefetch 50, ack)", bareDrain);
  await measure("drain: RabbitMQBroker alone (claim + ack)", brokerDrain);
  await measure("drain: QueueTasks + MemoryStorage", () => appDrain(() => new MemoryStorage()));
  const redis = await measure("drain: QueueTasks + RedisStorage", () =>
    appDrain(() => new RedisStorage({ url: REDIS_URL, prefix: redisPrefix })),
  );
  console.log(`QueueTasks + RedisStorage / bare amqplib: ${((redis / bare) * 100).toFixed(0)}%`);
} finally {
  const conn = await connect(AMQP_URL);
  const ch = await conn.createChannel();
  for (const q of made) {
    await ch.deleteQueue(q).catch(() => undefined);
    await ch.deleteQueue(`${q}.dead`).catch(() => undefined);
  }
  await conn.close().catch(() => undefined);
  const r = new Redis(REDIS_URL);
  let cursor = "0";
  do {
    const [next, keys] = await r.scan(
      cursor,
      "MATCH",
      `${redisPrefix.replace(/[*?[\]\\]/g, "\\$&")}*`,
      "COUNT",
      1000,
    );
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== "0");
  r.disconnect();
}
