import type { FinalOutcome, NewTaskRecord, TaskEnvelope, TaskRecord, TaskStatus } from "@qtasks/core";
import { recordFromEnvelope, TASK_STATUSES, UnstorableValueError } from "@qtasks/core";

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

/**
 * Hash field/value items of a new record: everything that never changes after creation, packed in
 * one JSON field `d` (fewer hash fields make the scripts' HSET/HGETALL cheaper). Status, attempt,
 * index member and dates are set by the script; `createdAt` is passed on its own (`createdAtArg`).
 */
export function newRecordFields(r: NewTaskRecord): string[] {
  let d = `{"taskName":${toJson(r.taskName, "task name")},"priority":${toJson(r.priority, "priority")},"retries":${toJson(r.retries, "retries")},"args":${toJson(r.args, "arguments")},"tags":${toJson(r.tags ?? [], "tags")},"extra":${toJson(r.extra ?? {}, "extra")}`;
  if (r.retryOf) d += `,"retryOf":${toJson(r.retryOf, "retryOf")}`;
  if (r.parentUuid) d += `,"parentUuid":${toJson(r.parentUuid, "parentUuid")}`;
  return ["d", `${d}}`];
}

/** `createdAt` as the scripts take it: epoch ms, or '' for the server's now. */
export function createdAtArg(d: Date | undefined): string {
  const ms = d?.getTime();
  return ms !== undefined && Number.isFinite(ms) ? String(ms) : "";
}

/** The `begin` create arguments: createdAt, then the field/value items (core's record for it). */
export function envelopeFields(uuid: string, e: TaskEnvelope): string[] {
  const record = recordFromEnvelope(uuid, e);
  return [createdAtArg(record.createdAt), ...newRecordFields(record)];
}

/**
 * Hash field/value items of a final outcome: the result fields packed in one JSON field `r`, or
 * `cancelReason` (its own field, because `requestCancel` also writes it). Status and dates are set by
 * the script.
 */
export function outcomeFields(o: FinalOutcome): string[] {
  switch (o.status) {
    case "success":
      // `undefined` (a handler that returns nothing) is kept as an absent field.
      return o.returning === undefined ? [] : ["r", `{"returning":${toJson(o.returning, "result")}}`];
    case "error": {
      let r = `{"traceback":${toJson(o.traceback, "traceback")}`;
      if (o.errorName) r += `,"errorName":${toJson(o.errorName, "error name")}`;
      if (o.deadLetterReason) r += `,"deadLetterReason":${toJson(o.deadLetterReason, "dead-letter reason")}`;
      return ["r", `${r}}`];
    }
    case "cancel":
      return ["cancelReason", toJson(o.cancelReason, "cancel reason")];
    case "retry": {
      let r = `{"traceback":${toJson(o.traceback, "traceback")},"retryUuid":${toJson(o.retryUuid, "retry uuid")}`;
      if (o.errorName) r += `,"errorName":${toJson(o.errorName, "error name")}`;
      return ["r", `${r}}`];
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

interface Data {
  taskName?: string;
  priority?: number;
  retries?: number;
  args?: unknown[];
  tags?: string[];
  extra?: Record<string, unknown>;
  retryOf?: string;
  parentUuid?: string;
}

interface Result {
  returning?: unknown;
  traceback?: string;
  errorName?: string;
  deadLetterReason?: string;
  retryUuid?: string;
}

/** A task hash back as a `TaskRecord` (or `null` when the hash is empty or not a task record). */
export function decodeRecord(uuid: string, fields: Map<string, string>): TaskRecord | null {
  const status = fields.get("status");
  if (status === undefined || !STATUSES.has(status)) return null;
  const d = parseJson<Data>(fields.get("d")) ?? {};
  const rec: TaskRecord = {
    uuid,
    taskName: typeof d.taskName === "string" ? d.taskName : "",
    priority: typeof d.priority === "number" ? d.priority : 0,
    args: Array.isArray(d.args) ? d.args : [],
    status: status as TaskStatus,
    attempt: Number(fields.get("attempt") ?? 0),
    retries: typeof d.retries === "number" ? d.retries : 0,
    createdAt: new Date(Number(fields.get("createdAt") ?? 0)),
    updatedAt: new Date(Number(fields.get("updatedAt") ?? 0)),
    tags: Array.isArray(d.tags) ? d.tags : [],
    extra: d.extra && typeof d.extra === "object" ? d.extra : {},
  };
  if (typeof d.retryOf === "string") rec.retryOf = d.retryOf;
  if (typeof d.parentUuid === "string") rec.parentUuid = d.parentUuid;
  const r = parseJson<Result>(fields.get("r"));
  if (r) {
    if (Object.hasOwn(r, "returning")) rec.returning = r.returning;
    if (typeof r.traceback === "string") rec.traceback = r.traceback;
    if (typeof r.errorName === "string") rec.errorName = r.errorName;
    if (typeof r.deadLetterReason === "string") rec.deadLetterReason = r.deadLetterReason;
    if (typeof r.retryUuid === "string") rec.retryUuid = r.retryUuid;
  }
  const cancelReason = parseJson<unknown>(fields.get("cancelReason"));
  if (typeof cancelReason === "string") rec.cancelReason = cancelReason;
  const started = fields.get("startedAt");
  if (started !== undefined) rec.startedAt = new Date(Number(started));
  const finished = fields.get("finishedAt");
  if (finished !== undefined) rec.finishedAt = new Date(Number(finished));
  return rec;
}

function parseJson<T>(text: string | undefined): T | undefined {
  return text === undefined ? undefined : (JSON.parse(text) as T);
}
