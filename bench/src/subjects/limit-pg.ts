import pg from "pg";
import { DATABASE_URL, sleep } from "../env";
import type { Instance, Subject } from "../types";
import { Consumer } from "./consume";

/**
 * The PostgreSQL limit: a table of jobs; enqueue is one autocommitted INSERT (bulk: one
 * INSERT ... SELECT unnest per chunk); a worker claims up to its free prefetch slots with one
 * UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT k) RETURNING and finishes a batch
 * with one UPDATE ... WHERE id = ANY. New work is found by polling every 5 ms when the table is empty.
 */
export const pgLimit: Subject = {
  id: "limit-postgres",
  label: "limit: bare pg",
  kind: "limit",
  services: ["postgres"],
  settings:
    "pg 8; one autocommitted INSERT per task (bulk: INSERT..SELECT unnest per chunk); claims = UPDATE..WHERE id IN (SELECT..FOR UPDATE SKIP LOCKED LIMIT free slots of a 500-task window) RETURNING; finishes = one UPDATE..WHERE id = ANY per batch; 5 ms poll when empty",
  async available() {
    const c = new pg.Client({ connectionString: DATABASE_URL });
    try {
      await c.connect();
      await c.end();
      return null;
    } catch (e) {
      return `PostgreSQL unreachable (${(e as Error).message})`;
    }
  },
  async create(tag) {
    const schema = `bench_${tag}`;
    const t = `${schema}.jobs`;
    const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(
      `CREATE TABLE ${t} (id bigserial PRIMARY KEY, payload jsonb NOT NULL, status text NOT NULL DEFAULT 'new')`,
    );
    await admin.query(`CREATE INDEX ON ${t} (id) WHERE status = 'new'`);
    let pool: pg.Pool | undefined;
    let consumer: Consumer<{ id: string; payload: { i: number } }> | undefined;
    const inst: Instance = {
      async add(i) {
        await admin.query(`INSERT INTO ${t} (payload) VALUES ($1)`, [JSON.stringify({ i })]);
      },
      async addBulk(items) {
        await admin.query(
          `INSERT INTO ${t} (payload) SELECT jsonb_build_object('i', x) FROM unnest($1::int[]) x`,
          [items],
        );
      },
      async startWorker(concurrency, onRun) {
        const p = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
        pool = p;
        consumer = new Consumer<{ id: string; payload: { i: number } }>({
          concurrency,
          prefetch: 500,
          claim: async (max) => {
            const r = await p.query(
              `UPDATE ${t} SET status = 'process' WHERE id IN (SELECT id FROM ${t} WHERE status = 'new' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT $1) RETURNING id, payload`,
              [max],
            );
            if (r.rows.length === 0) await sleep(5);
            return r.rows;
          },
          finish: async (rows) => {
            await p.query(`UPDATE ${t} SET status = 'success' WHERE id = ANY($1::bigint[])`, [
              rows.map((r) => r.id),
            ]);
          },
          run: (row) => onRun(row.payload.i),
        });
        consumer.start();
      },
      async finalCount() {
        const r = await admin.query(`SELECT count(*)::int AS n FROM ${t} WHERE status = 'success'`);
        return r.rows[0].n as number;
      },
      async states() {
        const r = await admin.query(`SELECT status, count(*)::int AS n FROM ${t} GROUP BY status`);
        return Object.fromEntries(r.rows.map((x) => [x.status as string, x.n as number]));
      },
      async close() {
        await consumer?.stop();
        await pool?.end().catch(() => {});
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
        await admin.end().catch(() => {});
      },
    };
    return inst;
  },
};
