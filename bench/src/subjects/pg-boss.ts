import pg from "pg";
import PgBoss from "pg-boss";
import { DATABASE_URL } from "../env";
import type { Instance, Subject } from "../types";

/**
 * pg-boss 10 (the last line that runs on Node 20) with a standard queue, its defaults for retries
 * and expiry, and its fastest allowed polling (0.5 s). pg-boss has no per-worker concurrency in
 * v10: concurrency c is one `work()` fetching batches of c jobs, run in parallel.
 */
export const pgBoss: Subject = {
  id: "pg-boss",
  label: "pg-boss 10.4",
  kind: "peer",
  services: ["postgres"],
  settings:
    "pg-boss 10.4.2; createQueue(standard); send / insert; work(batchSize = concurrency, pollingIntervalSeconds 0.5 = its minimum), batch run in parallel; maintenance and schedule off",
  async available() {
    return null;
  },
  async create(tag) {
    const schema = `bench_${tag}_pgboss`;
    const name = "noop";
    const boss = new PgBoss({
      connectionString: DATABASE_URL,
      schema,
      supervise: false,
      schedule: false,
      migrate: true,
    });
    boss.on("error", () => {});
    await boss.start();
    await boss.createQueue(name);
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    const inst: Instance = {
      async add(i) {
        await boss.send(name, { i });
      },
      async addBulk(items) {
        await boss.insert(items.map((i) => ({ name, data: { i } })));
      },
      async startWorker(concurrency, onRun) {
        await boss.work<{ i: number }>(
          name,
          { batchSize: concurrency, pollingIntervalSeconds: 0.5 },
          async (jobs) => {
            await Promise.all(
              jobs.map(async (job) => {
                onRun(job.data.i);
              }),
            );
          },
        );
      },
      async finalCount() {
        const r = await admin.query(
          `SELECT count(*)::int AS n FROM ${schema}.job WHERE name = $1 AND state = 'completed'`,
          [name],
        );
        return r.rows[0].n as number;
      },
      async states() {
        const r = await admin.query(
          `SELECT state::text AS s, count(*)::int AS n FROM ${schema}.job WHERE name = $1 GROUP BY state`,
          [name],
        );
        return Object.fromEntries(r.rows.map((x) => [x.s as string, x.n as number]));
      },
      async close() {
        await boss.stop({ graceful: true, wait: true, timeout: 3000 }).catch(() => {});
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
        await admin.end().catch(() => {});
      },
    };
    return inst;
  },
};
