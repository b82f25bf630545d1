// Prints EXPLAIN (ANALYZE, BUFFERS) of the real begin and finish statements (as the storage sends
// them, with its parameters) on a table of N bulk-added records. Run: npx tsx scripts/plan-explain.ts [N]
import { randomUUID } from "node:crypto";
import { silentLogger } from "@qtasks/core";
import type pg from "pg";
import { PostgresStorage } from "../src/index";
import { admin, DATABASE_URL, dropSchema, randomSchema } from "../test/helpers";

const N = Number(process.argv[2] ?? 20000);
const schema = randomSchema("qt_plan");
const storage = new PostgresStorage({ connectionString: DATABASE_URL, schema });
await storage.start({ logger: silentLogger } as never);
const seen: { text: string; values: unknown[] }[] = [];
const pool = (storage as unknown as { pool: pg.Pool }).pool;
const orig = pool.query.bind(pool) as (...a: unknown[]) => unknown;
(pool as unknown as { query: unknown }).query = (q: { text: string; values: unknown[] }) => {
  seen.push(q);
  return orig(q);
};
try {
  const all = Array.from({ length: N }, () => randomUUID());
  for (let k = 0; k < N; k += 1000) {
    await storage.add(
      all
        .slice(k, k + 1000)
        .map((uuid) => ({ uuid, taskName: "noop", args: [1], priority: 0, retries: 0, tags: [], extra: {} })),
    );
  }
  // ANALYZE=1: with fresh statistics, to see whether statistics alone change the plans.
  if (process.env.ANALYZE) await admin(`ANALYZE "${schema}".tasks`);
  // Begins then finishes `batch` through the storage; answers the begin and finish statements it sent.
  const capture = async (batch: string[]) => {
    seen.length = 0;
    await Promise.all(
      batch.map((u) =>
        storage.begin(u, {
          v: 1,
          uuid: u,
          taskName: "noop",
          args: [1],
          priority: 0,
          retries: 0,
          enqueuedAt: Date.now(),
        }),
      ),
    );
    const begin = seen.find((q) => q.text.includes("ON CONFLICT (uuid) DO UPDATE"))!;
    seen.length = 0;
    await Promise.all(
      batch.map((u) => storage.finish(u, 1, { status: "success", returning: null } as never)),
    );
    const finish = seen.find((q) => q.text.includes("finished_at = now()"))!;
    return { begin, finish };
  };
  const explain = async (label: string, batch: string[]) => {
    const { begin: b, finish: f } = await capture(batch);
    for (const [k, q] of [
      ["begin", b],
      ["finish", f],
    ] as const) {
      // Run it again under EXPLAIN ANALYZE inside a rolled-back transaction (the rows are final by
      // now, so begin takes its 'final' branch and finish changes nothing: the plan is what counts).
      const rows = await admin<{ "QUERY PLAN": string }>(
        `EXPLAIN (ANALYZE, BUFFERS, COSTS) ${q.text}`,
        q.values,
      );
      console.log(
        `---- ${label} ${k} (${batch.length} rows)\n${rows.map((r) => r["QUERY PLAN"]).join("\n")}`,
      );
    }
  };
  await explain("single", all.slice(0, 1));
  await explain("batch", all.slice(1, 51));
  // The same statements doing real work: batch A's captured statements, EXPLAIN ANALYZEd (which runs
  // them) with batch B's uuids swapped in, so begin starts 50 new records and finish finishes them.
  if (process.env.REAL) {
    const a = all.slice(100, 150);
    const b = all.slice(200, 250);
    const { begin: bq, finish: fq } = await capture(a);
    const swap = (v: unknown): unknown => {
      let t = JSON.stringify(v);
      a.forEach((u, i) => {
        t = t.split(u).join(b[i]!);
      });
      return JSON.parse(t);
    };
    for (const [k, q] of [
      ["begin", bq],
      ["finish", fq],
    ] as const) {
      const rows = await admin<{ "QUERY PLAN": string }>(
        `EXPLAIN (ANALYZE, BUFFERS, COSTS, VERBOSE false) ${q.text}`,
        q.values.map(swap),
      );
      console.log(`---- real ${k} (50 rows)\n${rows.map((r) => r["QUERY PLAN"]).join("\n")}`);
    }
  }
} finally {
  await storage.stop();
  await dropSchema(schema);
}
