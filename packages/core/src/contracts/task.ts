import type { AbortHook } from "../lazy-abort";
import type { TaskContext } from "./context";
import type { TaskRecord } from "./record";

/** Any error class, matched with `instanceof` (subclasses count). */
// biome-ignore lint/suspicious/noExplicitAny: constructors of any signature
export type ErrorClass = abstract new (...args: any[]) => Error;

/** Backoff between retries, in seconds. */
export type RetryBackoff =
  | { type: "fixed"; delay: number }
  /** `base * 2^(retry-1)`, capped at `max`, with full jitter when `jitter` is true (default). */
  | { type: "exponential"; base: number; max?: number; jitter?: boolean };

/** Per-call enqueue options (`task.with(options).addTask(...)`). */
export interface EnqueueOptions {
  /** Overrides the task's priority (integer, -100..100, higher runs first). */
  priority?: number;
  /** Seconds before the task becomes claimable. */
  delay?: number;
  /** Default timeout, in seconds, of `handle.wait()` / `handle.result()` for this call. */
  timeout?: number;
  /** Extra data stored on the record and carried in the envelope. */
  extra?: Record<string, unknown>;
  /** Tags added to the task's tags for this call. */
  tags?: string[];
  /** Use this uuid instead of a random one (idempotent enqueue: an existing record is kept). */
  uuid?: string;
}

/** What a before-middleware sees. Replace `args` to change what the handler receives. */
export interface MiddlewareBeforeCall {
  readonly taskName: string;
  readonly uuid: string;
  readonly ctx: TaskContext;
  args: unknown[];
}

/** What an after-middleware sees. Replace `result` to change what is stored. */
export interface MiddlewareAfterCall {
  readonly taskName: string;
  readonly uuid: string;
  readonly ctx: TaskContext;
  readonly args: readonly unknown[];
  result: unknown;
}

/** A before-middleware may return this to stop the run: the task ends `success` with `result`. */
export interface MiddlewareStop {
  stop: true;
  result?: unknown;
}

/**
 * Middleware runs around a task. `before` runs in order before the handler and may change
 * `call.args` or stop the run; `after` runs in order after it and may change `call.result`.
 * A middleware is data-free between runs: each run gets fresh call objects.
 */
export interface Middleware {
  readonly name?: string;
  before?(call: MiddlewareBeforeCall): void | MiddlewareStop | Promise<void | MiddlewareStop>;
  after?(call: MiddlewareAfterCall): void | Promise<void>;
}

/** Entries of `middlewaresBefore` / `middlewaresAfter`: a Middleware object or a plain function. */
export type MiddlewareBeforeEntry =
  | Middleware
  | ((call: MiddlewareBeforeCall) => void | MiddlewareStop | Promise<void | MiddlewareStop>);
export type MiddlewareAfterEntry = Middleware | ((call: MiddlewareAfterCall) => void | Promise<void>);

/** How one run ended, as decided by the executor. The worker writes it to storage. */
export type ExecutionOutcome =
  | { status: "success"; returning: unknown }
  | { status: "error"; error: unknown }
  | { status: "cancel"; reason: string }
  /** Run again as a new linked record after `delay` seconds. */
  | { status: "retry"; error: unknown; delay: number };

/** The task definition as registered (handler and options), what executors receive. */
export interface TaskDefinition {
  readonly taskName: string;
  // biome-ignore lint/suspicious/noExplicitAny: handlers of any signature
  readonly handler: (...args: any[]) => unknown;
  readonly priority: number;
  readonly echo: boolean;
  readonly maxTime?: number;
  readonly retry: number;
  readonly retryOnExc: readonly ErrorClass[];
  readonly retryBackoff?: RetryBackoff;
  readonly decode?: (result: unknown) => unknown;
  readonly tags: readonly string[];
  readonly description?: string;
  readonly generateHandler?: (value: unknown) => unknown;
  readonly executor?: ExecutorClass;
  readonly middlewaresBefore: readonly MiddlewareBeforeEntry[];
  readonly middlewaresAfter: readonly MiddlewareAfterEntry[];
  readonly extra: Readonly<Record<string, unknown>>;
}

/** Everything an executor needs for one run. */
export interface ExecutionRequest {
  readonly task: TaskDefinition;
  /** The arguments as enqueued (before middleware). */
  readonly args: readonly unknown[];
  /** The record's retry index (0 = first run). */
  readonly retries: number;
  /** The `self` passed first to echo handlers. */
  readonly self: unknown;
  readonly ctx: TaskContext;
  /** Before: app-wide middleware first, then the task's. After: the task's, then app-wide. */
  readonly middlewaresBefore: readonly MiddlewareBeforeEntry[];
  readonly middlewaresAfter: readonly MiddlewareAfterEntry[];
  /** Aborted on `maxTime`, cancellation, or forced stop. */
  readonly signal: AbortSignal;
  /**
   * Optional: the same abort state as `signal`, readable and listened to without creating the
   * signal (the default worker creates it only when someone reads it). `DefaultExecutor` uses it
   * when present.
   */
  readonly abort?: AbortHook;
  /** Stream one generator output to clients (stored and notified). */
  emitOutput(value: unknown): Promise<void>;
}

/**
 * Runs one task: middleware, the handler (plain, async, generator), decoding, retry and error
 * decisions. The worker constructs one per run with `new ExecutorClass(request)` and calls
 * `execute()`, then writes the outcome. `execute` must not throw: errors become outcomes.
 * Extend `DefaultExecutor` to change one step, or implement this from scratch.
 */
export interface Executor {
  execute(): Promise<ExecutionOutcome>;
}

export type ExecutorClass = new (request: ExecutionRequest) => Executor;

/** What plugins' hooks receive about a task being enqueued. */
export interface EnqueueHookInput {
  readonly taskName: string;
  readonly args: readonly unknown[];
  readonly priority: number;
  readonly delay: number;
  readonly extra: Readonly<Record<string, unknown>>;
}

/** A patch an `onEnqueue` hook returns; only the fields present are replaced. */
export interface EnqueuePatch {
  args?: unknown[];
  priority?: number;
  delay?: number;
  extra?: Record<string, unknown>;
}

/** The final record of one run, for `onTaskFinish`. */
export interface TaskFinishHookInput {
  readonly record: TaskRecord;
}
