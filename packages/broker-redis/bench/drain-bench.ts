/**
 * Full drain through the real worker: `QueueTasks` + `RedisBroker` + `RedisStorage`, N no-op tasks
 * enqueued first, then one worker with concurrency 50 (and optionally `config.prefetch`) runs them.
 * The clock stops when the storage counts N `success` records (polled every 20 ms, one pipeline).
 * Not a test: numbers depend on the machine and its load.
 * Run: `npx tsx packages/storage-redis/bench/drain-bench.ts [N] [prefetch] [runs]`.
 */
import { randomBytes } from "node:crypto";
import { QueueTasks, silentLogger } from "@qtasks/core";
import { RedisStorage } from "@qtasks/storage-redis";
import { Redis } from "ioredis";
import { RedisBroker } from "../src/index";

const N = Number(process.argv[2] ?? 20_000);
const PREFETCH = Number(process.argv[3] ?? 0);
const RUNS = Number(process.argv[4] ?? 3);
const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

async function cleanup(appName: string): Promise<void> {
  const r = new Redis(url);
  let cursor = "0";
  do {
    const [next, keys] = await r.scan(cursor, "MATCH", `qtasks:{${appName}}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== "0");
  r.disconnect();
}

async function drainOnce(): Promise<number> {
  const appName = `bench-drain-${randomBytes(4).toString("hex")}`;
  const storage = new RedisStorage({ url });
  const app = new QueueTasks({
    name: appName,
    broker: new RedisBroker({ url }),
    storage,
    logger: silentLogger,
    config: { maxTasksProcess: 50, prefetch: PREFETCH },
  });
  const noop = app.task({ name: "noop" }, () => undefined);
  try {
    await app.connect();
    for (let i = 0; i < N; i += 1000)
      await noop.addTasks(Array.from({ length: Math.min(1000, N - i) }, () => []));
    const t0 = performance.now();
    await app.start();
    for (;;) {
      const c = await storage.count();
      if (c.success >= N) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    return N / ((performance.now() - t0) / 1000);
  } finally {
    await app.stop({ timeout: 5 });
    await cleanup(appName);
  }
}

const xs: number[] = [];
for (let i = 0; i < RUNS; i++) {
  xs.push(Math.round(await drainOnce()));
}
const sorted = [...xs].sort((a, b) => a - b);
console.log(
  `drain N=${N} concurrency 50 prefetch ${PREFETCH}: median ${sorted[Math.floor(sorted.length / 2)]} tasks/s, runs ${xs.join(" / ")}`,
);
