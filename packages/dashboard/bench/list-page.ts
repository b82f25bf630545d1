/**
 * The server time of the dashboard's task list with 100,000 records in storage, on Redis and on
 * PostgreSQL: `GET api/tasks?status=...` through the handler, first page (50 rows, newest first).
 * Each storage gets its own prefix / schema, deleted afterwards. Not a test: the figures depend on
 * the machine and its load.
 *
 *   pnpm --filter @qtasks/dashboard bench            # both storages, 100,000 records
 *   pnpm --filter @qtasks/dashboard bench redis 20000
 */
import { userInfo } from "node:os";
import { newUuid, QueueTasks, type Storage, silentLogger, type TaskEnvelope } from "@qtasks/core";
import { PostgresStorage } from "@qtasks/storage-postgres";
import { RedisStorage } from "@qtasks/storage-redis";
import { Redis } from "ioredis";
import pg from "pg";
import { createDashboard } from "../src/index";

const which = process.argv[2] ?? "all";
const N = Number(process.argv[3] ?? 100_000);
const RUNS = 30;
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const DATABASE_URL = process.env.DATABASE_URL || "postgres://127.0.0.1:5432/test";
const NAMES = ["send_email", "resize_image", "charge_card", "sync_inventory"];
/** Of every 100 records: 20 finish `success`, 5 `error`, the rest stay `new`. */
const SUCCESS_PER_100 = 20;
const ERROR_PER_100 = 5;

/** The fill's first createdAt; records are 10 ms apart, so `start + N * 5` is the middle one. */
let start = 0;

async function fill(storage: Storage): Promise<void> {
  const t0 = performance.now();
  start = Date.now() - N * 10;
  const toFinish: { uuid: string; env: TaskEnvelope; status: "success" | "error" }[] = [];
  for (let i = 0; i < N; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 1000); j++) {
      const uuid = newUuid();
      const taskName = NAMES[j % NAMES.length]!;
      const args = [{ order: j, to: `user${j}@example.com` }];
      batch.push({
        uuid,
        taskName,
        priority: 0,
        args,
        retries: 0,
        // Every 10th record is tagged "vip" (the tag filter walks the index and skips the others).
        tags: j % 10 === 3 ? ["vip"] : [],
        extra: {},
        createdAt: new Date(start + j * 10),
      });
      const k = j % 100;
      if (k < SUCCESS_PER_100 + ERROR_PER_100)
        toFinish.push({
          uuid,
          env: { v: 1, uuid, taskName, args, priority: 0, retries: 0, enqueuedAt: start + j * 10 },
          status: k < SUCCESS_PER_100 ? "success" : "error",
        });
    }
    await storage.add(batch);
  }
  let next = 0;
  const worker = async () => {
    while (next < toFinish.length) {
      const t = toFinish[next++]!;
      const begun = await storage.begin(t.uuid, t.env);
      if (begun.kind !== "started") continue;
      await storage.finish(
        t.uuid,
        begun.attempt,
        t.status === "success"
          ? { status: "success", returning: "ok" }
          : { status: "error", traceback: "Error: bench" },
      );
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  console.log(
    `  filled ${N.toLocaleString()} records in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    await storage.count(),
  );
}

async function measure(label: string, storage: Storage): Promise<void> {
  const app = new QueueTasks({ name: "bench", storage, logger: silentLogger });
  await app.connect();
  try {
    await fill(storage);
    const dashboard = createDashboard({ app });
    const middle = new Date(start + N * 5).toISOString();
    const queries = [
      "status=new",
      "status=success",
      "status=error",
      "status=error&taskName=charge_card",
      "tag=vip",
      "status=success&tag=vip",
      `status=success&until=${middle}`,
    ];
    console.log(
      `${label}: first page (50 rows) of api/tasks, ${RUNS} runs each, ms (storage / whole handler)`,
    );
    for (const q of queries) {
      const storageMs: number[] = [];
      const totalMs: number[] = [];
      for (let i = 0; i < RUNS + 3; i++) {
        const t0 = performance.now();
        const res = await dashboard.fetch(new Request(`http://bench/api/tasks?${q}`));
        const body = (await res.json()) as { items: unknown[]; serverMs: number };
        const total = performance.now() - t0;
        if (body.items.length !== 50) throw new Error(`${q}: ${body.items.length} rows`);
        if (i < 3) continue; // warm-up
        storageMs.push(body.serverMs);
        totalMs.push(total);
      }
      console.log(
        `  ${q.replace(middle, "<middle>").padEnd(36)} median ${fmt(pct(storageMs, 0.5))} / ${fmt(pct(totalMs, 0.5))}   p95 ${fmt(pct(storageMs, 0.95))} / ${fmt(pct(totalMs, 0.95))}`,
      );
    }
  } finally {
    await app.stop({ timeout: 0 });
  }
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const fmt = (ms: number) => ms.toFixed(1).padStart(6);

if (which === "all" || which === "redis") {
  const prefix = `qtasks-bench:{dash-${newUuid().slice(0, 8)}}`;
  try {
    await measure("RedisStorage", new RedisStorage({ url: REDIS_URL, prefix }));
  } finally {
    const r = new Redis(REDIS_URL);
    let cursor = "0";
    do {
      const [nextCursor, keys] = await r.scan(
        cursor,
        "MATCH",
        `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`,
        "COUNT",
        1000,
      );
      cursor = nextCursor;
      if (keys.length) await r.del(...keys);
    } while (cursor !== "0");
    r.disconnect();
  }
}

if (which === "all" || which === "postgres") {
  const schema = `qt_bench_dash_${newUuid().slice(0, 8)}`;
  try {
    await measure("PostgresStorage", new PostgresStorage({ url: DATABASE_URL, schema }));
  } finally {
    const url = new URL(DATABASE_URL);
    if (!url.username) url.username = process.env.PGUSER || userInfo().username;
    const c = new pg.Client({ connectionString: url.toString() });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  }
}
