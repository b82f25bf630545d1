import { SerializationError, UnstorableValueError } from "@qtasks/core";

// PostgreSQL text and jsonb cannot hold NUL, and lone UTF-16 surrogates would be replaced (text) or
// refused (jsonb): both are refused up front so that nothing is half-written.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function badString(s: string): string | null {
  if (!s.includes("\u0000") && !LONE_SURROGATE.test(s)) return null;
  return s.includes("\u0000") ? "a NUL character (\\u0000)" : "a lone UTF-16 surrogate";
}

/** Throws `UnstorableValueError` if `value` holds a string (or object key) PostgreSQL cannot store. */
export function assertStorable(value: unknown, what: string): void {
  const seen = new Set<object>();
  const walk = (v: unknown, path: string): void => {
    if (typeof v === "string") {
      const bad = badString(v);
      if (bad) throw new UnstorableValueError(`${path} contains ${bad}, which PostgreSQL cannot store`);
      return;
    }
    if (v === null || typeof v !== "object") return;
    if (seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) walk(v[i], `${path}[${i}]`);
      return;
    }
    for (const key of Object.keys(v)) {
      const bad = badString(key);
      if (bad)
        throw new UnstorableValueError(`a key in ${path} contains ${bad}, which PostgreSQL cannot store`);
      walk((v as Record<string, unknown>)[key], `${path}.${key}`);
    }
  };
  walk(value, what);
}

/** PostgreSQL error codes meaning "this value cannot be stored". */
export const UNSTORABLE_CODES = new Set([
  "22P05", // untranslatable_character (\u0000 in jsonb)
  "22021", // character_not_in_repertoire (NUL byte in text)
]);

/** Maps a driver error to `UnstorableValueError` where it says the value cannot be stored. */
export function mapUnstorable(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && UNSTORABLE_CODES.has(code)) {
    return new UnstorableValueError(`PostgreSQL refused a value: ${(err as Error).message}`, { cause: err });
  }
  return err;
}

/** JSON text for a jsonb column, after the storability check. `undefined` stays `undefined` (SQL NULL). */
export function toJsonText(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  assertStorable(value, what);
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new SerializationError(`${what} cannot be encoded as JSON: ${(err as Error).message}`, what, {
      cause: err,
    });
  }
  return text;
}
