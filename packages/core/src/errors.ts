/**
 * Every error qtasks throws is a `QTasksError` with a stable `code` (safe to switch on, never
 * reworded) and, where another error caused it, a `cause`.
 */
export class QTasksError extends Error {
  /** Stable machine-readable code, e.g. `"QTASKS_UNKNOWN_TASK"`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** A task name that no registry knows. Lookups never touch object prototypes. */
export class UnknownTaskError extends QTasksError {
  constructor(
    readonly taskName: string,
    options?: { cause?: unknown },
  ) {
    super("QTASKS_UNKNOWN_TASK", `Unknown task ${JSON.stringify(truncate(taskName, 200))}`, options);
  }
}

/** A task name that cannot be registered (empty, too long, control characters, separators). */
export class InvalidTaskNameError extends QTasksError {
  constructor(
    readonly taskName: unknown,
    reason: string,
  ) {
    super(
      "QTASKS_INVALID_TASK_NAME",
      `Invalid task name ${typeof taskName === "string" ? JSON.stringify(truncate(taskName, 60)) : String(typeof taskName)}: ${reason}`,
    );
  }
}

/** Two tasks registered under one name. */
export class DuplicateTaskError extends QTasksError {
  constructor(
    readonly taskName: string,
    readonly existing: string,
    readonly incoming: string,
  ) {
    super(
      "QTASKS_DUPLICATE_TASK",
      `Task name ${JSON.stringify(taskName)} is already registered by ${existing}; ${incoming} cannot register it again`,
    );
  }
}

/** Arguments, options or a result that JSON cannot carry faithfully. Nothing was enqueued or stored. */
export class SerializationError extends QTasksError {
  constructor(
    message: string,
    readonly path?: string,
    options?: { cause?: unknown },
  ) {
    super("QTASKS_SERIALIZATION", message, options);
  }
}

/** A payload over the configured limit; rejected before any I/O. */
export class PayloadTooLargeError extends QTasksError {
  constructor(
    readonly size: number,
    readonly limit: number,
    what = "payload",
  ) {
    super("QTASKS_PAYLOAD_TOO_LARGE", `The ${what} is ${size} bytes, over the limit of ${limit} bytes`);
  }
}

/** Options that are out of range (priority, delay, timeout, ...). */
export class InvalidOptionError extends QTasksError {
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super("QTASKS_INVALID_OPTION", `Invalid option ${option}: ${reason}`);
  }
}

/** A message read from a broker that is not a valid envelope. It is dead-lettered as `malformed`. */
export class MalformedMessageError extends QTasksError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super("QTASKS_MALFORMED_MESSAGE", `Malformed message: ${reason}`, options);
  }
}

/** Waiting for a result ran out of time. The task itself goes on. */
export class WaitTimeoutError extends QTasksError {
  constructor(
    readonly uuid: string,
    readonly timeoutSeconds: number,
    readonly lastStatus?: string,
  ) {
    super(
      "QTASKS_WAIT_TIMEOUT",
      `Task ${uuid} did not finish within ${timeoutSeconds}s${lastStatus ? ` (last status: ${lastStatus})` : ""}`,
    );
  }
}

/** A task ran past its `maxTime`; its AbortSignal was aborted. */
export class TaskTimeoutError extends QTasksError {
  constructor(
    readonly taskName: string,
    readonly maxTime: number,
  ) {
    super("QTASKS_TASK_TIMEOUT", `Task ${JSON.stringify(taskName)} exceeded maxTime of ${maxTime}s`);
  }
}

/** Thrown by `ctx.cancel(reason)` (and by `ctx.sleep` when the task is cancelled): the task ends `cancel`. */
export class TaskCancelError extends QTasksError {
  constructor(readonly reason: string) {
    super("QTASKS_TASK_CANCEL", `Task cancelled: ${reason}`);
  }
}

/** The awaited task ended in `error` (or `cancel`). The record is attached. */
export class TaskFailedError extends QTasksError {
  constructor(
    readonly record: {
      uuid: string;
      taskName: string;
      status: string;
      traceback?: string;
      cancelReason?: string;
    },
  ) {
    super(
      record.status === "cancel" ? "QTASKS_TASK_CANCELLED" : "QTASKS_TASK_FAILED",
      record.status === "cancel"
        ? `Task ${record.taskName} (${record.uuid}) was cancelled: ${record.cancelReason ?? "no reason"}`
        : `Task ${record.taskName} (${record.uuid}) failed: ${firstLine(record.traceback)}`,
    );
  }
}

/** A broker, storage or other component could not be reached or refused the operation. */
export class ConnectionError extends QTasksError {
  constructor(component: string, message: string, options?: { cause?: unknown }) {
    super("QTASKS_CONNECTION", `${component}: ${message}`, options);
  }
}

/** The app (or a component) was used before `start()` or after `stop()`. */
export class NotStartedError extends QTasksError {
  constructor(message: string) {
    super("QTASKS_NOT_STARTED", message);
  }
}

/** A value the storage cannot keep (e.g. `\u0000` in PostgreSQL jsonb). Nothing was written. */
export class UnstorableValueError extends QTasksError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("QTASKS_UNSTORABLE_VALUE", message, options);
  }
}

/** Raised through `ctx.pluginError(...)`; handled by the plugins' `onPluginError` hook. */
export class PluginError extends QTasksError {
  constructor(
    message: string,
    readonly plugin?: string,
    readonly data?: unknown,
    options?: { cause?: unknown },
  ) {
    super("QTASKS_PLUGIN_ERROR", message, options);
  }
}

/** No app to run a shared task on (none created, or several and none named). */
export class NoAppError extends QTasksError {
  constructor(message: string) {
    super("QTASKS_NO_APP", message);
  }
}

/** `ctx.getComponent(name)` with a name the app does not have. */
export class UnknownComponentError extends QTasksError {
  constructor(readonly component: string) {
    super("QTASKS_UNKNOWN_COMPONENT", `Unknown component ${JSON.stringify(truncate(component, 60))}`);
  }
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

function firstLine(s: string | undefined): string {
  if (!s) return "unknown error";
  const i = s.indexOf("\n");
  return i === -1 ? s : s.slice(0, i);
}
