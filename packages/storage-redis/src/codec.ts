import type { FinalOutcome, NewTaskRecord, TaskEnvelope, TaskRecord, TaskStatus } from "@qtasks/core";
import { TASK_STATUSES, UnstorableValueError } from "@qtasks/core";

/**
 * JSON text for a value, or `UnstorableValueError` (nothing written) for what JSON cannot carry
 * (BigInt, cycles). `JSON.stringify` escapes lone surrogates, so the text is valid UTF-8 and every
 * JS string survives the trip through Redis exactly.
 */
export function toJson(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new UnstorableValueError(`The ${what} cannot be stored as JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (text === undefined)
    throw new UnstorableValueError(`The ${what} cannot be stored as JSON (${typeof value})`);
  return text;
}

/** Hash field/value items of a new record (status, attempt, index member and dates are set by the
 * script; `createdAt` is passed on its own, see `createdAtArg`). */
export function newRecordFields(r: NewTaskRecord): string[] {
  const f = [
    "taskName",
    toJson(r.taskName, "task name"),
    "priority",
    String(r.priority),
    "retries",
    String(r.retries),
    "args",
    toJson(r.args, "arguments"),
    "tags",
    toJson(r.tags ?? [], "tags"),
    "extra",
    toJson(r.extra ?? {}, "extra"),
  ];
  if (r.retryOf) f.push("retryOf", toJson(r.retryOf, "retryOf"));
  if (r.parentUuid) f.push("parentUuid", toJson(r.parentUuid, "parentUuid"));
  return f;
}

/** `createdAt` as the scripts take it: epoch ms, or '' for the server's now. */
export function createdAtArg(d: Date | undefined): string {
  const ms = d?.getTime();
  return ms !== undefined && Number.isFinite(ms) ? String(ms) : "";
}

/** The `begin` create arguments: createdAt, then the field/value items. */
export function envelopeFields(uuid: string, e: TaskEnvelope): string[] {
  const createdAt = Number.isFinite(e.enqueuedAt) ? String(e.enqueuedAt) : "";
  const fields = newRecordFields({
    uuid,
    taskName: e.taskName,
    priority: e.priority,
    args: e.args,
    retries: e.retries,
    retryOf: e.retryOf,
    parentUuid: e.parentUuid,
    tags: e.tags ?? [],
    extra: e.extra ?? {},
  });
  return [createdAt, ...fields];
}

/** Hash field/value items of a final outcome (status and dates are set by the script). */
export function outcomeFields(o: FinalOutcome): string[] {
  switch (o.status) {
    case "success":
      // `undefined` (a handler that returns nothing) is kept as an absent field.
      return o.returning === undefined ? [] : ["returning", toJson(o.returning, "result")];
    case "error": {
      const f = ["traceback", toJson(o.traceback, "traceback")];
      if (o.errorName) f.push("errorName", toJson(o.errorName, "error name"));
      if (o.deadLetterReason) f.push("deadLetterReason", toJson(o.deadLetterReason, "dead-letter reason"));
      return f;
    }
    case "cancel":
      return ["cancelReason", toJson(o.cancelReason, "cancel reason")];
    case "retry": {
      const f = [
        "traceback",
        toJson(o.traceback, "traceback"),
        "retryUuid",
        toJson(o.retryUuid, "retry uuid"),
      ];
      if (o.errorName) f.push("errorName", toJson(o.errorName, "error name"));
      return f;
    }
  }
}

const STATUSES = new Set<string>(TASK_STATUSES);

/** A flat `[field, value, ...]` reply as a field map (no prototype, so no field can reach one). */
export function pairsToMap(items: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < items.length; i += 2) m.set(items[i]!, items[i + 1]!);
  return m;
}

/** A task hash back as a `TaskRecord` (or `null` when the hash is empty or not a task record). */
export function decodeRecord(uuid: string, fields: Map<string, string>): TaskRecord | null {
  const status = fields.get("status");
  if (status === undefined || !STATUSES.has(status)) return null;
  const rec: TaskRecord = {
    uuid,
    taskName: parseString(fields.get("taskName")) ?? "",
    priority: Number(fields.get("priority") ?? 0),
    args: (parseJson(fields.get("args")) as unknown[] | undefined) ?? [],
    status: status as TaskStatus,
    attempt: Number(fields.get("attempt") ?? 0),
    retries: Number(fields.get("retries") ?? 0),
    createdAt: new Date(Number(fields.get("createdAt") ?? 0)),
    updatedAt: new Date(Number(fields.get("updatedAt") ?? 0)),
    tags: (parseJson(fields.get("tags")) as string[] | undefined) ?? [],
    extra: (parseJson(fields.get("extra")) as Record<string, unknown> | undefined) ?? {},
  };
  if (fields.has("returning")) rec.returning = parseJson(fields.get("returning"));
  for (const key of [
    "traceback",
    "errorName",
    "cancelReason",
    "deadLetterReason",
    "retryOf",
    "retryUuid",
    "parentUuid",
  ] as const) {
    const v = parseString(fields.get(key));
    if (v !== undefined) rec[key] = v;
  }
  const started = fields.get("startedAt");
  if (started !== undefined) rec.startedAt = new Date(Number(started));
  const finished = fields.get("finishedAt");
  if (finished !== undefined) rec.finishedAt = new Date(Number(finished));
  return rec;
}

function parseJson(text: string | undefined): unknown {
  return text === undefined ? undefined : JSON.parse(text);
}

function parseString(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const v = JSON.parse(text);
  return typeof v === "string" ? v : String(v);
}
