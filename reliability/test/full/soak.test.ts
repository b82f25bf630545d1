import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { REDIS_URL } from "../../src/backends";
import { Scenario } from "../../src/harness";
import { readJournals } from "../../src/journal";
import { recordRow } from "../../src/report";

const TOTAL = Number(process.env.QTASKS_SOAK_TOTAL ?? 200_000);
const BATCH = 1000;

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
      const heap = async () => {
        const h = await s.client.addTask("rel.mem");
        return ((await h.result({ timeout: 60 })) as { heapUsed: number }).heapUsed;
      };
      let heapAt20k = 0;
      let finalOk = 0;
      for (let sent = 0; sent < TOTAL; sent += BATCH) {
        const jobs = Array.from({ length: BATCH }, (_, k) => ({
          id: `s${sent + k}`,
          fail: (sent + k) % 100 === 0,
        }));
        const ids = jobs.map((j) => j.id);
        await s.enqueue("rel.flaky", jobs, BATCH);
        // A steady producer: each batch waits for its outcome (following retries) before the next.
        const records = await Promise.all(
          ids.map((id) => s.client.handle(s.uuids.get(id)!).wait({ timeout: 120 })),
        );
        finalOk += records.filter((r) => r.status === "success").length;
        for (const id of ids) s.uuids.delete(id);
        if (sent + BATCH === 20_000) heapAt20k = await heap();
      }
      const heapAtEnd = await heap();
      const executions = readJournals(s.journalDir).filter((e) => e.e === "start").length;
      // Retention is 5 s: wait it out and a purge pass, then count what is left.
      await new Promise((r) => setTimeout(r, 8000));
      const keys = await keysUnder(s.config.appName);
      const growth = heapAtEnd / heapAt20k - 1;
      recordRow({
        scenario: "12 soak",
        backend: "redis+redis",
        attempted: TOTAL,
        acknowledged: TOTAL,
        executions,
        lost: TOTAL - finalOk,
        notes: `worker heap at 20k ${(heapAt20k / 1e6).toFixed(1)} MB, at ${TOTAL / 1000}k ${(heapAtEnd / 1e6).toFixed(1)} MB (${(growth * 100).toFixed(1)}%); keys left after retention: ${keys}`,
      });
      expect(finalOk).toBe(TOTAL);
      expect(executions).toBe(TOTAL + TOTAL / 100);
      expect(growth).toBeLessThan(0.1);
      expect(keys).toBeLessThan(50);
    } finally {
      await s.dispose();
    }
  });
});
