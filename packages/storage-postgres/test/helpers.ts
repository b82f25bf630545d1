import { randomBytes } from "node:crypto";
import { userInfo } from "node:os";
import type { Logger } from "@qtasks/core";
import pg from "pg";
import { PostgresStorage, type PostgresStorageOptions } from "../src/index";

export const DATABASE_URL = process.env.DATABASE_URL || "postgres://127.0.0.1:5432/test";

/** A fresh schema name for one test file (or one test). */
export function randomSchema(prefix = "qt_test"): string {
  return `${prefix}_${randomBytes(6).toString("hex")}`;
}

/** Runs one statement on a short-lived connection of the test's own. */
export async function admin<R extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const url = new URL(DATABASE_URL);
  if (!url.username) url.username = process.env.PGUSER || userInfo().username;
  const c = new pg.Client({ connectionString: url.toString(), application_name: "qtasks-test-admin" });
  await c.connect();
  try {
    return (await c.query<R>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  // The one place a test builds SQL with a name: the schema comes from randomSchema() above.
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema ${schema}`);
  await admin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

export interface LogLine {
  level: string;
  message: string;
  fields?: Record<string, unknown>;
}

/** A logger that keeps every line (and its fields) for assertions. */
export function memoryLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const make = (bindings: Record<string, unknown>): Logger & { lines: LogLine[] } => {
    const log =
      (level: string) =>
      (message: string, fields?: Record<string, unknown>): void => {
        lines.push({ level, message, fields: { ...bindings, ...fields } });
      };
    return {
      lines,
      debug: log("debug"),
      info: log("info"),
      warn: log("warn"),
      error: log("error"),
      child: (b) => make({ ...bindings, ...b }),
    };
  };
  return make({});
}

export function ctx(logger: Logger = memoryLogger()) {
  return { appName: "qtasks-test", logger };
}

export function makeStorage(schema: string, options: PostgresStorageOptions = {}): PostgresStorage {
  return new PostgresStorage({ connectionString: DATABASE_URL, schema, ...options });
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 15000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
