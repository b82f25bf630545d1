/**
 * The task record (what Storage keeps) and the envelope (what a Broker carries).
 *
 * Versioning: these shapes are part of the public contract. Adding an optional field is a minor
 * change; anything else is major.
 */

/** Lifecycle of one task record. `success`, `error` and `cancel` are final; `retry` is final for
 * this record, whose work continues in the record named by `retryUuid`. */
export type TaskStatus = "new" | "process" | "success" | "error" | "cancel" | "retry";

export const TASK_STATUSES: readonly TaskStatus[] = ["new", "process", "success", "error", "cancel", "retry"];

/** Statuses after which a record is never written again. */
export const FINAL_STATUSES: readonly TaskStatus[] = ["success", "error", "cancel", "retry"];

export function isFinalStatus(status: TaskStatus): boolean {
  return status === "success" || status === "error" || status === "cancel" || status === "retry";
}

/** JSON-compatible data. Payloads and results are data, never code. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One task record. Storage is the source of truth for it. */
export interface TaskRecord {
  uuid: string;
  taskName: string;
  priority: number;
  /** The original arguments; kept through every status. */
  args: unknown[];
  status: TaskStatus;
  /** The (decoded) result, on `success`. */
  returning?: unknown;
  /** A readable error text (name, message, stack), on `error` and `retry`. */
  traceback?: string;
  /** The error's class name, on `error` and `retry`. */
  errorName?: string;
  /** Why the task was cancelled, on `cancel`; while running, a cancellation that was requested. */
  cancelReason?: string;
  /** Why the broker dead-lettered the task (`delivery-limit`, `malformed`, ...), on `error`. */
  deadLetterReason?: string;
  /**
   * Fencing token: how many times a worker has begun this record (0 = never). `begin` increments it;
   * a final write carrying an older attempt is refused, so a stale worker cannot overwrite a newer one.
   */
  attempt: number;
  /** Which retry this record is: 0 for the first run, n for the n-th retry. */
  retries: number;
  /** The record this one retries (the previous attempt), if any. */
  retryOf?: string;
  /** The record that retries this one, on status `retry`. */
  retryUuid?: string;
  /** The task that enqueued this one through `self.addTask`, if any. */
  parentUuid?: string;
  createdAt: Date;
  updatedAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  tags: string[];
  extra: Record<string, unknown>;
}

/** What `Storage.add` receives: a record as the client creates it. */
export type NewTaskRecord = Pick<
  TaskRecord,
  "uuid" | "taskName" | "priority" | "args" | "retries" | "retryOf" | "parentUuid" | "tags" | "extra"
> & { createdAt?: Date };

/**
 * Everything a worker needs to run a task without reading storage first. Brokers carry it as JSON
 * (see `encodeEnvelope` / `decodeEnvelope`), and never interpret anything but `priority`.
 */
export interface TaskEnvelope {
  /** Envelope format version. */
  v: 1;
  uuid: string;
  taskName: string;
  args: unknown[];
  priority: number;
  /** Which retry this is (0 = first run). */
  retries: number;
  /** Milliseconds since the epoch at enqueue. */
  enqueuedAt: number;
  parentUuid?: string;
  retryOf?: string;
  tags?: string[];
  extra?: Record<string, unknown>;
}
