// Drain rate through QueueTasks (RedisBroker + this storage): bulk-add N no-op tasks, then time a
// worker at concurrency C until every task has its final record. Also prints the storage's
// statement counts. Run: npx tsx scripts/drain-bench.ts [N] [C] [timeoutSeconds]
import { randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { RedisBroker } from "@qtasks/broker-redis";
import { QueueTasks, silentLogger } from "@qtasks/core";
import { Redis } from "ioredis";
import { PostgresStorage } from "../src/index";
import { DATABASE_URL, dropSchema, randomSchema } from "../test/helpers";

const N = Number(process.argv[2] ?? 20000);
const C = Number(process.argv[3] ?? 1);
const timeoutMs = Number(process.argv[4] ?? 90) * 1000;
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const schema = randomSchema("qt_drain");
const prefix = `qtasks-bench:{pg-drain-${randomUUID().slice(0, 8)}}:`;
const storage = new PostgresStorage({ connectionString: DATABASE_URL, schema });
const app = new QueueTasks({
  name: "pg-drain",
  broker: new RedisBroker({ url: REDIS_URL, prefix }),
  storage,
  logger: silentLogger,
});
// Time every storage call the runtime makes (median per method) to see where a task's time goes.
const calls = new Map<string, number[]>();
for (const m of ["begin", "finish", "get", "add", "subscribe", "appendOutput", "requestCancel"] as const) {
  const f = (storage as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[m]!.bind(storage);
  (storage as unknown as Record<string, unknown>)[m] = async (...a: unknown[]) => {
    const t = performance.now();
    try {
      return await f(...a);
    } finally {
      const arr = calls.get(m) ?? [];
      arr.push(performance.now() - t);
      calls.set(m, arr);
    }
  };
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
let ran = 0;
app.task({ name: "noop" }, async (_p: { i: number }) => {
  ran++;
});
await app.connect();
try {
  for (let k = 0; k < N; k += 1000) {
    await app.addTasks(
      Array.from({ length: Math.min(1000, N - k) }, (_, j) => ({ task: "noop", args: [{ i: k + j }] })),
    );
  }
  const load = loadavg()[0]!.toFixed(2);
  const s0 = storage.stats();
  calls.clear();
  const t0 = performance.now();
  await app.start({ concurrency: C });
  let done = 0;
  while (performance.now() - t0 < timeoutMs) {
    done = (await storage.count()).success;
    if (done >= N) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const secs = (performance.now() - t0) / 1000;
  const s1 = storage.stats();
  const per = (k: "begin" | "finish") =>
    `${s1.statements[k] - s0.statements[k]} stmts / ${s1.items[k] - s0.items[k]} items`;
  console.log(
    `N=${N} c=${C}: ${done} final in ${secs.toFixed(2)} s = ${(done / secs).toFixed(0)} tasks/s${done < N ? " (TIMEOUT)" : ""}; ` +
      `begin ${per("begin")}, finish ${per("finish")}; load ${load}; ran ${ran}`,
  );
  console.log(
    [...calls].map(([m, a]) => `${m}: ${a.length} calls, median ${med(a).toFixed(3)} ms`).join("; "),
  );
} finally {
  await app.stop({ timeout: 5 }).catch(() => {});
  await dropSchema(schema);
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
}
