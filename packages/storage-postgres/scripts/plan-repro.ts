// Reproduces the begin/finish slowdown on a bulk-loaded table: bulk add N records, then time
// sequential and concurrent begin+finish pairs, and print EXPLAIN (ANALYZE, BUFFERS) of both.
// Run: npx tsx scripts/plan-repro.ts [N]
import { randomUUID } from "node:crypto";
import { silentLogger } from "@qtasks/core";
import { PostgresStorage } from "../src/index";
import { admin, DATABASE_URL, dropSchema, randomSchema } from "../test/helpers";

const N = Number(process.argv[2] ?? 20000);
const PAIRS = 2000;
const schema = randomSchema("qt_plan");
const storage = new PostgresStorage({ connectionString: DATABASE_URL, schema });
const env = (uuid: string) =>
  ({
    uuid,
    taskName: "noop",
    v: 1,
    args: [1],
    priority: 0,
    retries: 0,
    enqueuedAt: Date.now(),
  }) as never;
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

async function timePairs(
  uuids: string[],
  conc: number,
): Promise<{ begin: number; finish: number; rate: number }> {
  const tb: number[] = [];
  const tf: number[] = [];
  let i = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (i < uuids.length) {
        const u = uuids[i++]!;
        let t = performance.now();
        const r = await storage.begin(u, env(u));
        tb.push(performance.now() - t);
        t = performance.now();
        await storage.finish(u, r.kind === "started" ? r.attempt : 1, {
          status: "success",
          returning: null,
        } as never);
        tf.push(performance.now() - t);
      }
    }),
  );
  return { begin: median(tb), finish: median(tf), rate: uuids.length / ((performance.now() - t0) / 1000) };
}

await storage.start({ logger: silentLogger } as never);
try {
  const all = Array.from({ length: N + 2 * PAIRS }, () => randomUUID());
  for (let k = 0; k < N + 2 * PAIRS; k += 1000) {
    await storage.add(
      all
        .slice(k, k + 1000)
        .map((uuid) => ({ uuid, taskName: "noop", args: [1], priority: 0, retries: 0, tags: [], extra: {} })),
    );
  }
  const [st] = await admin(
    `SELECT n_live_tup, last_analyze, last_autoanalyze, (SELECT reltuples FROM pg_class WHERE oid = '"${schema}".tasks'::regclass) AS reltuples FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'tasks'`,
    [schema],
  );
  console.log("table:", st);
  const seq = await timePairs(all.slice(N, N + PAIRS), 1);
  console.log(
    `c=1 : begin median ${seq.begin.toFixed(3)} ms, finish median ${seq.finish.toFixed(3)} ms, ${seq.rate.toFixed(0)} pairs/s`,
  );
  const par = await timePairs(all.slice(N + PAIRS), 50);
  console.log(
    `c=50: begin median ${par.begin.toFixed(3)} ms, finish median ${par.finish.toFixed(3)} ms, ${par.rate.toFixed(0)} pairs/s`,
  );
  console.log("stats", JSON.stringify(storage.stats()));
  const seqscans = await admin(
    `SELECT seq_scan, seq_tup_read, idx_scan FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'tasks'`,
    [schema],
  );
  console.log("scans", seqscans[0]);
} finally {
  await storage.stop();
  if (!process.env.KEEP) await dropSchema(schema);
  else console.log("kept schema", schema);
}
