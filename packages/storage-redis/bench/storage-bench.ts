/**
 * Storage-only throughput on the local Redis: what a worker pays per task in this package (`begin`
 * then `finish`, 50 tasks in flight), plus `add` in bulk and one by one. Not a test: numbers depend on
 * the machine and its load. Run: `npx tsx packages/storage-redis/bench/storage-bench.ts [N]`.
 */
import { newUuid, silentLogger } from "@qtasks/core";
import { Redis } from "ioredis";
import { RedisStorage } from "../src/index";

const N = Number(process.argv[2] ?? 20_000);
const CONCURRENCY = 50;
const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = `qtasks-bench:{${newUuid()}}`;
const storage = new RedisStorage({ url, prefix });
await storage.start({ appName: "bench", logger: silentLogger });

const record = () => ({
  uuid: newUuid(),
  taskName: "noop",
  priority: 0,
  args: [1],
  retries: 0,
  tags: [],
  extra: {},
});
const rate = (n: number, t0: number) => Math.round(n / ((performance.now() - t0) / 1000));

try {
  const recs = Array.from({ length: N }, record);
  let t0 = performance.now();
  for (let i = 0; i < N; i += 1000) await storage.add(recs.slice(i, i + 1000));
  console.log(`add, bulk of 1000:           ${rate(N, t0)} records/s`);

  const singles = Array.from({ length: Math.min(N, 5000) }, record);
  t0 = performance.now();
  for (const r of singles) await storage.add([r]);
  console.log(`add, one by one (awaited):    ${rate(singles.length, t0)} records/s`);

  let next = 0;
  const cpu0 = process.cpuUsage();
  t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) {
        const r = recs[next++]!;
        const begun = await storage.begin(r.uuid, {
          v: 1,
          uuid: r.uuid,
          taskName: r.taskName,
          args: r.args,
          priority: 0,
          retries: 0,
          enqueuedAt: Date.now(),
        });
        if (begun.kind === "started") {
          await storage.finish(r.uuid, begun.attempt, { status: "success", returning: null });
        }
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `begin + finish, ${CONCURRENCY} in flight: ${rate(N, t0)} tasks/s (${((cpu.user + cpu.system) / N).toFixed(1)} µs of Node CPU per task)`,
  );
} finally {
  await storage.stop();
  const admin = new Redis(url);
  let cursor = "0";
  do {
    const [nextCursor, keys] = await admin.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = nextCursor;
    if (keys.length) await admin.del(...keys);
  } while (cursor !== "0");
  admin.disconnect();
}
