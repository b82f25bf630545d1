import { InvalidOptionError } from "@qtasks/core";

/** Schema names we accept: lower-case, unquoted-style identifiers. Max 56 characters so that the
 * notification channel `<schema>_events` stays within PostgreSQL's 63-byte identifier limit. */
const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,55}$/;

/** Throws `InvalidOptionError` unless `schema` is a safe schema name. */
export function validateSchemaName(schema: unknown): string {
  if (typeof schema !== "string" || !SCHEMA_RE.test(schema)) {
    throw new InvalidOptionError(
      "schema",
      `must match ${SCHEMA_RE.source} (lower-case letters, digits and underscores, at most 56 characters)`,
    );
  }
  return schema;
}

/**
 * The one quoting helper: every identifier that goes into SQL text passes through here. Values never
 * do: they are always bound parameters.
 */
export function quoteIdent(name: string): string {
  if (name.length === 0 || name.includes("\u0000")) {
    throw new InvalidOptionError("identifier", "must be non-empty and contain no NUL character");
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"schema"."name"`. */
export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** The LISTEN/NOTIFY channel of a schema. */
export function channelName(schema: string): string {
  return `${schema}_events`;
}
