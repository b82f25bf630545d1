import type { ComponentContext } from "./component";
import type { NewTaskRecord, TaskEnvelope, TaskRecord, TaskStatus } from "./record";

/** What `Storage.begin` found. */
export type BeginResult =
  /** The record is now `process` with this (incremented) attempt: run the task. */
  | { kind: "started"; attempt: number; record: TaskRecord }
  /** The record is already final: ack the delivery without running it again. */
  | { kind: "final"; record: TaskRecord };

/** The final write of one attempt. */
export type FinalOutcome =
  | { status: "success"; returning: unknown }
  | { status: "error"; traceback: string; errorName?: string; deadLetterReason?: string }
  | { status: "cancel"; cancelReason: string }
  | { status: "retry"; traceback: string; errorName?: string; retryUuid: string };

/** What `Storage.requestCancel` did. */
export type CancelResult =
  /** The task had not started: it is now `cancel`. */
  | "cancelled"
  /** The task is running: the request is stored and notified; the worker ends it `cancel`. */
  | "requested"
  /** The task was already final (or unknown): nothing changed. */
  | "final"
  | "not-found";

/** A change to one record, delivered to `subscribe` listeners. Listeners re-read what they need. */
export interface StorageEvent {
  uuid: string;
  /**
   * `final`: a final write; `status`: any other status change; `output`: a generator output was
   * appended; `cancel`: a cancellation was requested; `resync`: the notification channel was
   * (re)established and events may have been missed, so re-read everything.
   */
  kind: "final" | "status" | "output" | "cancel" | "resync";
}

export type Unsubscribe = () => Promise<void>;

/** Options of `Storage.list`. Every filter given must match (AND). */
export interface ListOptions {
  status?: TaskStatus;
  taskName?: string;
  /** Only records whose `tags` include this one. */
  tag?: string;
  /** Only records created at or after this time. */
  createdSince?: Date;
  /** Only records created before this time. */
  createdBefore?: Date;
  /** Default 100, at most 1000. */
  limit?: number;
  /** Records to skip (newest first). */
  offset?: number;
}

/**
 * Task records: the source of truth for status and results. Storage holds no execution logic.
 *
 * Guarantees every implementation must give (checked by `@qtasks/test-suite`):
 * - `add` inserts records with status `new` and `attempt` 0; adding a uuid that exists leaves the
 *   existing record untouched (so a retried enqueue is idempotent).
 * - `begin` is atomic: a final record is returned as `final`; otherwise `attempt` is incremented,
 *   the status becomes `process` and `startedAt` is set. A missing record is created from the envelope
 *   first (a message published without a record still runs and is recorded).
 * - `finish` is atomic and guarded: it writes only when the record is not final and `attempt` equals
 *   the record's attempt; otherwise it changes nothing and resolves `false`.
 * - Every final write, status change, output and cancellation request notifies `subscribe` listeners
 *   of that uuid, across processes for a shared storage. Re-establishing the notification channel
 *   sends `resync` to every listener.
 * - Values the storage cannot keep reject with `UnstorableValueError` and write nothing.
 *
 * Ownership: storage built from connection options creates its connections in `start` and closes
 * them in `stop`; storage given an existing client or pool uses it and never closes it.
 */
export interface Storage {
  /** A short name for logs (`"memory"`, `"redis"`, `"postgres"`). */
  readonly name: string;
  /**
   * Where it connects, for logs and `qtasks run`'s start line, with credentials masked (e.g.
   * `redis://127.0.0.1:6379/0`, see `maskUrl`). Optional: absent for in-process components.
   */
  readonly target?: string;

  /** Connect, migrate. Called once by the app; idempotent. */
  start(ctx: ComponentContext): Promise<void>;
  /** Flush pending writes, drop subscriptions, close what the storage created. Idempotent. */
  stop(): Promise<void>;

  /** Insert new records (bulk: one round trip or close to it). */
  add(records: NewTaskRecord[]): Promise<void>;
  /** Start an attempt (see the guarantees above). */
  begin(uuid: string, envelope: TaskEnvelope): Promise<BeginResult>;
  /** Write the final outcome of `attempt`. `false`: stale attempt or already final, nothing written. */
  finish(uuid: string, attempt: number, outcome: FinalOutcome): Promise<boolean>;
  /** One record, or `null`. */
  get(uuid: string): Promise<TaskRecord | null>;
  /** Listen for changes to one record. Resolves once the listener is active (no event is missed
   * after that). */
  subscribe(uuid: string, listener: (event: StorageEvent) => void): Promise<Unsubscribe>;

  /** Append one generator output of a running attempt (ignored for a stale attempt) and notify. */
  appendOutput(uuid: string, attempt: number, value: unknown): Promise<void>;
  /** The outputs appended so far, from index `from` (default 0). */
  getOutputs(uuid: string, from?: number): Promise<unknown[]>;

  /** Ask a task to stop (see `CancelResult`). */
  requestCancel(uuid: string, reason: string): Promise<CancelResult>;
  /** Put a dead-lettered (`error`) record back to `new` so that it can run again. `false` when the
   * record is missing or not in `error`. */
  requeue(uuid: string): Promise<boolean>;

  /** Records, newest first. */
  list(options?: ListOptions): Promise<TaskRecord[]>;
  /** Record counts by status (every status present, zero where none). */
  count(): Promise<Record<TaskStatus, number>>;
  /** Retention: delete final records finished more than `olderThanSeconds` ago, at most `limit`
   * (default 1000) per call. Resolves to the number deleted. */
  purge(options: { olderThanSeconds: number; limit?: number }): Promise<number>;
}
