import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { REDIS_URL } from "../../src/backends";
import { Scenario } from "../../src/harness";
import { recordRow } from "../../src/report";

const TOTAL = Number(process.env.QTASKS_SOAK_TOTAL ?? 200_000);

async function keysUnder(appName: string): Promise<number> {
  const redis = new Redis(REDIS_URL);
  let n = 0;
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `*{${appName}}*`, "COUNT", 5000);
    cursor = next;
    n += keys.length;
  } while (cursor !== "0");
  redis.disconnect();
  return n;
}

describe("12. soak through Redis", () => {
  it(`${TOTAL} tasks, 1% failing and retried: memory flat, nothing left behind beyond retention`, async () => {
    const s = new Scenario({ broker: "redis", storage: "redis", label: "redis+redis" }, { leaseSeconds: 10 });
    try {
      await s.client.connect();
      await s.startWorker({
        concurrency: 50,
        env: { NODE_OPTIONS: "--expose-gc", QTASKS_REL_RETENTION: "5" },
      });
      const memAt = async () => {
        const h = await s.client.addTask("rel.mem");
        return ((await h.result({ timeout: 60 })) as { heapUsed: number }).heapUsed;
      };
      const batch = 1000;
      let sent = 0;
      let memoryAt20k = 0;
      let last: { wait(o: { timeout: number }): Promise<unknown> }[] = [];
      while (sent < TOTAL) {
        const items = Array.from({ length: batch }, (_, k) => {
          const i = sent + k;
          return { task: "rel.flaky", args: [{ id: `s${i}`, fail: i % 100 === 0 }] };
        });
        last = await s.client.addTasks(items);
        sent += batch;
        // Keep the backlog bounded, like a steady producer.
        await Promise.all(last.map((h) => h.wait({ timeout: 120 })));
        if (sent === 20_000) memoryAt20k = await memAt();
      }
      const memoryAtEnd = await memAt();
      const stats = await s.client.stats();
      // Retention is 5 s: wait it out, then a purge pass, then count keys.
      await new Promise((r) => setTimeout(r, 7000));
      const keys = await keysUnder(s.config.appName);
      const growth = memoryAtEnd / memoryAt20k - 1;
      recordRow({
        scenario: "12 soak",
        backend: "redis+redis",
        attempted: TOTAL,
        notes: `heap at 20k ${(memoryAt20k / 1e6).toFixed(1)} MB, at ${TOTAL / 1000}k ${(memoryAtEnd / 1e6).toFixed(1)} MB (${(growth * 100).toFixed(1)}%); retries ${stats.statuses.retry}; keys left after retention: ${keys}`,
      });
      expect(stats.statuses.retry).toBeGreaterThanOrEqual(TOTAL / 100);
      expect(growth).toBeLessThan(0.1);
      expect(keys).toBeLessThan(50);
    } finally {
      await s.dispose();
    }
  });
});
