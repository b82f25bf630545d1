import { afterAll, describe, expect, it } from "vitest";
import { LATEST_VERSION, MIGRATIONS, migrateSchema } from "../src/index";
import { admin, ctx, DATABASE_URL, dropSchema, makeStorage, randomSchema } from "./helpers";

const schema = randomSchema();
afterAll(async () => {
  await dropSchema(schema);
});

describe("migrations", () => {
  it("run once when several storages start at once on an empty schema", async () => {
    const storages = Array.from({ length: 4 }, () => makeStorage(schema));
    try {
      await Promise.all(storages.map((s) => s.start(ctx())));
      const applied = storages.map((s) => s.appliedMigrations);
      // Exactly one instance applied every migration; the others found the schema current.
      expect(applied.flat().sort()).toEqual(MIGRATIONS.map((m) => m.version).sort());
      expect(applied.filter((a) => a.length > 0)).toHaveLength(1);
      const rows = await admin<{ version: number }>(
        `SELECT version FROM "${schema}".migrations ORDER BY version`,
      );
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(rows.at(-1)?.version).toBe(LATEST_VERSION);
    } finally {
      await Promise.all(storages.map((s) => s.stop()));
    }
    // A later start applies nothing.
    const again = makeStorage(schema);
    await again.start(ctx());
    expect(again.appliedMigrations).toEqual([]);
    await again.stop();
  });

  it("creates typed columns and the status and retention indexes", async () => {
    const cols = await admin<{ column_name: string; data_type: string }>(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'tasks'",
      [schema],
    );
    const types = Object.fromEntries(cols.map((c) => [c.column_name, c.data_type]));
    expect(types).toMatchObject({
      uuid: "uuid",
      task_name: "text",
      priority: "integer",
      args: "jsonb",
      result: "jsonb",
      extra: "jsonb",
      tags: "ARRAY",
      attempt: "integer",
      created_at: "timestamp with time zone",
      finished_at: "timestamp with time zone",
    });
    const idx = await admin<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE schemaname = $1", [
      schema,
    ]);
    expect(idx.map((i) => i.indexname)).toEqual(
      expect.arrayContaining([
        "tasks_created_idx",
        "tasks_status_created_idx",
        "tasks_task_name_created_idx",
        "tasks_finished_idx",
      ]),
    );
  });

  it("migrateSchema prepares a schema ahead of the workers", async () => {
    const other = randomSchema();
    try {
      expect(await migrateSchema({ connectionString: DATABASE_URL, schema: other })).toEqual(
        MIGRATIONS.map((m) => m.version),
      );
      expect(await migrateSchema({ url: DATABASE_URL, schema: other })).toEqual([]);
      const s = makeStorage(other);
      await s.start(ctx());
      expect(s.appliedMigrations).toEqual([]);
      await s.stop();
    } finally {
      await dropSchema(other);
    }
  });
});
