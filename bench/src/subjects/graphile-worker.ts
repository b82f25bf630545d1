import { Logger, makeWorkerUtils, type Runner, run, type WorkerUtils } from "graphile-worker";
import pg from "pg";
import { DATABASE_URL } from "../env";
import type { Instance, Subject } from "../types";

function graphile(id: string, label: string, batched: boolean): Subject {
  return {
    id,
    label,
    kind: "peer",
    services: ["postgres"],
    settings: batched
      ? "graphile-worker 0.17.3 with its batching: localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0; LISTEN/NOTIFY; addJob / addJobs"
      : "graphile-worker 0.17.3 defaults (LISTEN/NOTIFY, pollInterval 2 s, pool 10 or concurrency+2); addJob / addJobs",
    async available() {
      return null;
    },
    async create(tag) {
      const schema = `bench_${tag}_gw`;
      const logger = new Logger(() => () => {});
      const utils: WorkerUtils = await makeWorkerUtils({ connectionString: DATABASE_URL, schema, logger });
      await utils.migrate();
      const admin = new pg.Client({ connectionString: DATABASE_URL });
      await admin.connect();
      let runner: Runner | undefined;
      const inst: Instance = {
        async add(i) {
          await utils.addJob("noop", { i });
        },
        async addBulk(items) {
          await utils.addJobs(items.map((i) => ({ identifier: "noop", payload: { i } })));
        },
        async startWorker(concurrency, onRun) {
          runner = await run({
            connectionString: DATABASE_URL,
            schema,
            concurrency,
            noHandleSignals: true,
            logger,
            taskList: {
              noop: async (payload) => {
                onRun((payload as { i: number }).i);
              },
            },
            ...(batched
              ? {
                  preset: {
                    worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
                  },
                }
              : {}),
          });
        },
        async finalCount() {
          // Graphile deletes a job when it succeeds: done = added - still in the table.
          const r = await admin.query(`SELECT count(*)::int AS n FROM ${schema}._private_jobs`);
          return added - (r.rows[0].n as number);
        },
        async states() {
          const r = await admin.query(
            `SELECT (locked_at IS NOT NULL) AS locked, (last_error IS NOT NULL) AS failed, count(*)::int AS n FROM ${schema}._private_jobs GROUP BY 1, 2`,
          );
          const out: Record<string, number> = { deleted: added };
          for (const x of r.rows) {
            const k = x.failed ? "failed" : x.locked ? "locked" : "waiting";
            out[k] = (out[k] ?? 0) + (x.n as number);
            out.deleted! -= x.n as number;
          }
          return out;
        },
        async close() {
          await runner?.stop().catch(() => {});
          await Promise.resolve(utils.release()).catch(() => {});
          await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
          await admin.end().catch(() => {});
        },
      };
      let added = 0;
      const add = inst.add;
      const addBulk = inst.addBulk;
      inst.add = async (i) => {
        await add(i);
        added++;
      };
      inst.addBulk = async (items) => {
        await addBulk(items);
        added += items.length;
      };
      return inst;
    },
  };
}

export const graphileWorker = graphile("graphile-worker", "graphile-worker 0.17", false);
export const graphileWorkerBatched = graphile(
  "graphile-worker-batched",
  "graphile-worker 0.17 (batched)",
  true,
);
