import type { NewTaskRecord, TaskEnvelope } from "./contracts/record";
import { MalformedMessageError } from "./errors";
import { isValidTaskName, MAX_PRIORITY, MIN_PRIORITY } from "./validation";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `s` is a canonical UUID string. */
export function isUuid(s: unknown): s is string {
  return typeof s === "string" && UUID_RE.test(s);
}

/** JSON text of an envelope, as brokers carry it. */
export function encodeEnvelope(envelope: TaskEnvelope): string {
  return JSON.stringify(envelope);
}

// Keys that must never become live properties when data is merged into objects.
function dropProtoKeys(key: string, value: unknown): unknown {
  return key === "__proto__" ? undefined : value;
}

// One decoder for every message: `decode` without `stream` keeps no state between calls.
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A reviver makes JSON.parse several times slower, and it is only needed when a `__proto__` key can
 * be in the text: literally, or spelled with \u escapes (which JSON.parse decodes in keys too).
 */
function mayHaveProtoKey(text: string): boolean {
  return text.includes("__proto__") || text.includes("\\u");
}

/**
 * Parses and validates an envelope read from a broker. Throws `MalformedMessageError` (with the
 * reason) for anything that is not a well-formed envelope; brokers dead-letter those as `malformed`.
 * Nothing in the message is evaluated; `__proto__` keys are dropped.
 */
export function decodeEnvelope(raw: string | Uint8Array): TaskEnvelope {
  let text: string;
  if (typeof raw === "string") text = raw;
  else {
    try {
      text = UTF8.decode(raw);
    } catch (cause) {
      throw new MalformedMessageError("not UTF-8", { cause });
    }
  }
  if (text.length === 0) throw new MalformedMessageError("empty message");
  let data: unknown;
  try {
    data = mayHaveProtoKey(text) ? JSON.parse(text, dropProtoKeys) : JSON.parse(text);
  } catch (cause) {
    throw new MalformedMessageError("not JSON", { cause });
  }
  return validateEnvelope(data);
}

/** Validates an already-parsed envelope object (see `decodeEnvelope`). */
export function validateEnvelope(data: unknown): TaskEnvelope {
  if (typeof data !== "object" || data === null || Array.isArray(data))
    throw new MalformedMessageError("not an object");
  const e = data as Record<string, unknown>;
  if (e.v !== 1) throw new MalformedMessageError(`unknown envelope version ${JSON.stringify(e.v)}`);
  if (!isUuid(e.uuid)) throw new MalformedMessageError("uuid is not a UUID");
  if (!isValidTaskName(e.taskName)) throw new MalformedMessageError("taskName is not a valid task name");
  if (!Array.isArray(e.args)) throw new MalformedMessageError("args is not an array");
  if (
    typeof e.priority !== "number" ||
    !Number.isInteger(e.priority) ||
    e.priority < MIN_PRIORITY ||
    e.priority > MAX_PRIORITY
  )
    throw new MalformedMessageError("priority is not an integer in range");
  if (typeof e.retries !== "number" || !Number.isInteger(e.retries) || e.retries < 0 || e.retries > 10_000)
    throw new MalformedMessageError("retries is out of range");
  if (typeof e.enqueuedAt !== "number" || !Number.isFinite(e.enqueuedAt))
    throw new MalformedMessageError("enqueuedAt is not a number");
  if (e.parentUuid !== undefined && !isUuid(e.parentUuid))
    throw new MalformedMessageError("parentUuid is not a UUID");
  if (e.retryOf !== undefined && !isUuid(e.retryOf)) throw new MalformedMessageError("retryOf is not a UUID");
  if (e.tags !== undefined && (!Array.isArray(e.tags) || !e.tags.every((t) => typeof t === "string")))
    throw new MalformedMessageError("tags is not a list of strings");
  if (e.extra !== undefined && (typeof e.extra !== "object" || e.extra === null || Array.isArray(e.extra)))
    throw new MalformedMessageError("extra is not an object");
  const envelope: TaskEnvelope = {
    v: 1,
    uuid: e.uuid,
    taskName: e.taskName,
    args: e.args,
    priority: e.priority,
    retries: e.retries,
    enqueuedAt: e.enqueuedAt,
  };
  if (e.parentUuid !== undefined) envelope.parentUuid = e.parentUuid as string;
  if (e.retryOf !== undefined) envelope.retryOf = e.retryOf as string;
  if (e.tags !== undefined) envelope.tags = e.tags as string[];
  if (e.extra !== undefined) envelope.extra = e.extra as Record<string, unknown>;
  return envelope;
}

/**
 * The record a storage creates from an envelope when `begin` finds none (a message published
 * without a record still runs and is recorded). Shared so every storage creates the same record.
 */
export function recordFromEnvelope(uuid: string, envelope: TaskEnvelope): NewTaskRecord {
  return {
    uuid,
    taskName: envelope.taskName,
    priority: envelope.priority,
    args: envelope.args,
    retries: envelope.retries,
    retryOf: envelope.retryOf,
    parentUuid: envelope.parentUuid,
    tags: envelope.tags ?? [],
    extra: envelope.extra ?? {},
    createdAt: new Date(envelope.enqueuedAt),
  };
}
