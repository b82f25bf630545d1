import { randomUUID } from "node:crypto";
import { userInfo } from "node:os";
import type { TaskEnvelope } from "@qtasks/core";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PostgresStorage } from "../src/index";
import { ctx, DATABASE_URL, dropSchema, makeStorage, randomSchema } from "./helpers";

// The batched begin/finish statements once joined `jsonb_to_recordset` (always estimated at 100 rows)
// to the table, and the planner answered with a hash join over a sequential scan of every record:
// each call cost more as the table grew. These tests read the plans (no timing): on a table of 10,000
// never-analyzed rows, begin and finish must reach `tasks` through its primary key only,
// both as planned for the values at hand and as a generic plan of the prepared statement.

const schema = randomSchema();
const ROWS = 10_000;
let pool: pg.Pool;
let storage: PostgresStorage;
const seen: { text: string; values: unknown[] }[] = [];

const envelope = (uuid: string): TaskEnvelope => ({
  v: 1,
  uuid,
  taskName: "plan",
  args: [1],
  priority: 0,
  retries: 0,
  enqueuedAt: Date.now(),
});

beforeAll(async () => {
  const url = new URL(DATABASE_URL);
  if (!url.username) url.username = process.env.PGUSER || userInfo().username;
  pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  // Record what the storage sends, to EXPLAIN exactly those statements.
  const query = pool.query.bind(pool) as (q: unknown) => Promise<unknown>;
  (pool as unknown as { query: (q: unknown) => Promise<unknown> }).query = (q: unknown) => {
    if (q && typeof q === "object" && "text" in q) seen.push(q as { text: string; values: unknown[] });
    return query(q);
  };
  storage = makeStorage(schema, { client: pool });
  await storage.start(ctx());
  const uuids = Array.from({ length: ROWS }, () => randomUUID());
  for (let i = 0; i < ROWS; i += 1000) {
    await storage.add(
      uuids
        .slice(i, i + 1000)
        .map((uuid) => ({ uuid, taskName: "plan", args: [1], priority: 0, retries: 0, tags: [], extra: {} })),
    );
  }
});

afterAll(async () => {
  await storage?.stop();
  await pool?.end();
  await dropSchema(schema);
});

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

function nodes(n: PlanNode): PlanNode[] {
  return [n, ...(n.Plans ?? []).flatMap(nodes)];
}

/** Every plan node that reads the `tasks` table (an INSERT/UPDATE target node excluded). */
function tasksReads(plan: PlanNode): PlanNode[] {
  return nodes(plan).filter((n) => n["Relation Name"] === "tasks" && n["Node Type"] !== "ModifyTable");
}

/** Runs `size` concurrent calls and returns the one statement of that kind they produced. */
async function capture(kind: "begin" | "finish", size: number, uuids: string[]) {
  seen.length = 0;
  if (kind === "begin") await Promise.all(uuids.slice(0, size).map((u) => storage.begin(u, envelope(u))));
  else
    await Promise.all(
      uuids.slice(0, size).map((u) => storage.finish(u, 1, { status: "success", returning: 1 })),
    );
  const marker = kind === "begin" ? "ON CONFLICT (uuid) DO UPDATE" : "finished_at = now()";
  const statements = seen.filter((q) => q.text.includes(marker));
  expect(statements).toHaveLength(1);
  return statements[0]!;
}

async function explain(q: { text: string; values: unknown[] }, generic: boolean): Promise<PlanNode> {
  const client = await pool.connect();
  try {
    if (!generic) {
      const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${q.text}`, q.values);
      return rows[0]["QUERY PLAN"][0].Plan as PlanNode;
    }
    // The plan a prepared statement settles on after its first executions (no parameter values).
    await client.query("SET plan_cache_mode = force_generic_plan");
    await client.query(`PREPARE plan_check AS ${q.text}`);
    try {
      const args = q.values
        .map((v) => client.escapeLiteral(Array.isArray(v) ? `{${v.join(",")}}` : String(v)))
        .join(", ");
      const { rows } = await client.query(`EXPLAIN (FORMAT JSON) EXECUTE plan_check(${args})`);
      return rows[0]["QUERY PLAN"][0].Plan as PlanNode;
    } finally {
      await client.query("DEALLOCATE plan_check");
      await client.query("RESET plan_cache_mode");
    }
  } finally {
    client.release();
  }
}

describe("begin and finish plans on a bulk-loaded table", () => {
  for (const size of [1, 25]) {
    for (const kind of ["begin", "finish"] as const) {
      for (const generic of [false, true]) {
        it(`${kind} of ${size} record(s) reads tasks through its primary key (${generic ? "generic" : "custom"} plan)`, async () => {
          const uuids = Array.from({ length: size }, () => randomUUID());
          await storage.add(
            uuids.map((uuid) => ({
              uuid,
              taskName: "plan",
              args: [1],
              priority: 0,
              retries: 0,
              tags: [],
              extra: {},
            })),
          );
          if (kind === "finish") await Promise.all(uuids.map((u) => storage.begin(u, envelope(u))));
          const q = await capture(kind, size, uuids);
          const plan = await explain(q, generic);
          const reads = tasksReads(plan);
          if (process.env.SHOW_PLAN) console.log(JSON.stringify(plan, null, 1));
          expect(reads.length).toBeGreaterThan(0);
          for (const n of reads) {
            expect(n["Node Type"]).not.toBe("Seq Scan");
            // An index scan names its index; a bitmap heap scan's index scans are its children.
            const indexes =
              n["Node Type"] === "Bitmap Heap Scan"
                ? nodes(n)
                    .filter((c) => c["Node Type"] === "Bitmap Index Scan")
                    .map((c) => c["Index Name"])
                : [n["Index Name"]];
            expect(indexes.length).toBeGreaterThan(0);
            for (const i of indexes) expect(i).toBe("tasks_pkey");
          }
        });
      }
    }
  }
});
