import pg, { type PoolClient } from "pg";
import { resolveClientConfig, withDefaultUser } from "./connection";
import { qualified, quoteIdent, validateSchemaName } from "./sql";

/** One schema change. `up` builds the SQL for a schema (identifiers quoted by `quoteIdent`). */
export interface Migration {
  version: number;
  name: string;
  up(schema: string): string;
}

const FINAL = "('success', 'error', 'cancel', 'retry')";

/**
 * The migrations, in order. Bundled as code so that nothing has to be copied next to the app.
 * Never edit a released migration: append a new one.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "task records and outputs",
    up: (s) => {
      const tasks = qualified(s, "tasks");
      const outputs = qualified(s, "task_outputs");
      return `
CREATE TABLE ${tasks} (
  seq bigint GENERATED ALWAYS AS IDENTITY,
  uuid uuid PRIMARY KEY,
  task_name text NOT NULL,
  priority integer NOT NULL DEFAULT 0,
  args jsonb NOT NULL DEFAULT '[]',
  status text NOT NULL DEFAULT 'new'
    CHECK (status IN ('new', 'process', 'success', 'error', 'cancel', 'retry')),
  result jsonb,
  traceback text,
  error_name text,
  cancel_reason text,
  dead_letter_reason text,
  attempt integer NOT NULL DEFAULT 0,
  retries integer NOT NULL DEFAULT 0,
  retry_of uuid,
  retry_uuid uuid,
  parent_uuid uuid,
  output_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  tags text[] NOT NULL DEFAULT '{}',
  extra jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ${quoteIdent("tasks_created_idx")} ON ${tasks} (created_at, seq);
CREATE INDEX ${quoteIdent("tasks_status_created_idx")} ON ${tasks} (status, created_at, seq);
CREATE INDEX ${quoteIdent("tasks_task_name_created_idx")} ON ${tasks} (task_name, created_at, seq);
CREATE INDEX ${quoteIdent("tasks_finished_idx")} ON ${tasks} (finished_at) WHERE status IN ${FINAL};
CREATE TABLE ${outputs} (
  uuid uuid NOT NULL REFERENCES ${tasks} (uuid) ON DELETE CASCADE,
  idx integer NOT NULL,
  value jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (uuid, idx)
);`;
    },
  },
  {
    version: 2,
    name: "global config: workers and settings",
    up: (s) => `
CREATE TABLE ${qualified(s, "workers")} (
  id text PRIMARY KEY,
  info jsonb NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX ${quoteIdent("workers_expires_idx")} ON ${qualified(s, "workers")} (expires_at);
CREATE TABLE ${qualified(s, "settings")} (
  key text PRIMARY KEY,
  value jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);`,
  },
];

/** The newest schema version this package knows. */
export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Brings `schema` up to date in one transaction, under a transaction-level advisory lock keyed by the
 * schema name: many processes may call this at once, each migration runs exactly once, and a crash
 * rolls everything back (the lock is released with the transaction). Resolves to the versions this
 * call applied (empty when the schema was already current).
 */
export async function migrate(client: Pick<PoolClient, "query">, schema: string): Promise<number[]> {
  const applied: number[] = [];
  const table = qualified(schema, "migrations");
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`qtasks:migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${table} (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${table}`);
    const done = new Set(rows.map((r) => r.version));
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await client.query(m.up(schema));
      await client.query(`INSERT INTO ${table} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
  return applied;
}

/**
 * Applies the migrations to `schema` and closes its connection: for deploy scripts and a
 * `qtasks migrate` style command, so that workers find the schema ready. Resolves to the versions
 * applied (empty when current).
 */
export async function migrateSchema(options: {
  connectionString?: string;
  url?: string;
  client?: pg.ClientConfig;
  schema?: string;
}): Promise<number[]> {
  const schema = validateSchemaName(options.schema ?? "qtasks");
  const config = withDefaultUser(
    resolveClientConfig({ connectionString: options.connectionString ?? options.url, pool: options.client }),
  );
  const client = new pg.Client(config);
  client.on("error", () => {});
  await client.connect();
  try {
    return await migrate(client, schema);
  } finally {
    await client.end().catch(() => {});
  }
}
