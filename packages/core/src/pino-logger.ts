import type { Logger } from "./contracts/logger";

/** The part of a pino logger the adapter uses; a pino instance (any version >= 7) fits it. */
export interface PinoLike {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
  child(bindings: Record<string, unknown>): PinoLike;
}

/**
 * A pino logger as a qtasks `Logger`. qtasks calls `logger.info(message, fields)`; pino takes
 * `(fields, message)` and would treat the fields as a format argument and drop them. Errors in the
 * fields are written as `{ type, message, stack }` (what pino's `err` serializer writes), since pino
 * serializes only the `err` key and an Error is `{}` in JSON. `child` maps to pino's `child`, so
 * bindings are pino bindings and its redaction and transports apply.
 */
export function pinoLogger(pino: PinoLike): Logger {
  return new PinoAdapter(pino);
}

/**
 * Whether `value` is a pino logger (by shape, so any copy of pino counts). `new QueueTasks({
 * logger: pino() })` adapts such a logger itself: it type-checks as a `Logger`, and without the
 * adapter its fields would be lost.
 */
export function isPinoLogger(value: unknown): value is PinoLike {
  if (typeof value !== "object" || value === null || value instanceof PinoAdapter) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.child === "function" &&
    typeof v.bindings === "function" &&
    typeof v.isLevelEnabled === "function" &&
    typeof v.levels === "object"
  );
}

class PinoAdapter implements Logger {
  constructor(private readonly pino: PinoLike) {}

  debug(message: string, fields?: Record<string, unknown>): void {
    this.pino.debug(toPinoFields(fields), message);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.pino.info(toPinoFields(fields), message);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.pino.warn(toPinoFields(fields), message);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.pino.error(toPinoFields(fields), message);
  }
  child(bindings: Record<string, unknown>): Logger {
    return new PinoAdapter(this.pino.child(toPinoFields(bindings)));
  }
}

const NO_FIELDS: Record<string, unknown> = Object.freeze({});

function toPinoFields(fields: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!fields) return NO_FIELDS;
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (value instanceof Error) {
      out ??= { ...fields };
      out[key] = { type: value.name, message: value.message, stack: value.stack };
    }
  }
  return out ?? fields;
}
