import type { TaskContext } from "./contracts/context";
import type {
  EnqueueOptions,
  ErrorClass,
  ExecutorClass,
  MiddlewareAfterEntry,
  MiddlewareBeforeEntry,
  RetryBackoff,
  TaskDefinition,
} from "./contracts/task";
import { InvalidOptionError, NoAppError } from "./errors";
import type { TaskHandle } from "./handle";
import { validatePriority, validateSeconds, validateTaskName } from "./validation";

/** Options of `app.task`, `router.task` and `sharedTask` (QTasks' options in camelCase; seconds). */
export interface TaskOptions {
  /** The task name (default: the handler's function name). */
  name?: string;
  /** Default priority, integer -100..100, higher runs first. Default 0. */
  priority?: number;
  /** Pass the task object `self` as the handler's first argument. */
  echo?: boolean;
  /** Seconds a run may take; past it the run's signal is aborted and it ends `TaskTimeoutError`. */
  maxTime?: number;
  /** Retries after a failing run (n retries = n + 1 runs). Default 0. */
  retry?: number;
  /** Errors that are retried (`instanceof`, subclasses count); empty or absent: any error. */
  retryOnExc?: ErrorClass[];
  /** Delay between retries. Default: none. */
  retryBackoff?: RetryBackoff;
  /** Applied to the handler's result before it is stored. */
  decode?: (result: unknown) => unknown;
  tags?: string[];
  description?: string;
  /** For generator handlers: called on each yielded value; its output is sent back into the
   * generator and streamed to clients. */
  generateHandler?: (value: unknown) => unknown;
  /** Replaces the default executor for this task. */
  executor?: ExecutorClass;
  middlewaresBefore?: MiddlewareBeforeEntry[];
  middlewaresAfter?: MiddlewareAfterEntry[];
  /** Any additional options, visible as `self.extra`. */
  extra?: Record<string, unknown>;
}

/** `sharedTask` options: every task option, plus `awaiting`. */
export interface SharedTaskOptions extends TaskOptions {
  /** Make the shared task an `AsyncTask` whatever the environment. */
  awaiting?: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: handler signatures are arbitrary
export type AnyHandler = (...args: any[]) => any;

/** The awaited result of a handler; generators yield their return value, or the list of outputs
 * when they return nothing. */
export type HandlerResult<H extends AnyHandler> =
  ReturnType<H> extends Generator<unknown, infer R, unknown> | AsyncGenerator<unknown, infer R, unknown>
    ? [R] extends [void | undefined]
      ? unknown[]
      : R
    : Awaited<ReturnType<H>>;

/** The arguments `addTask` takes for a handler: all of them, or all but `self` for echo tasks. */
export type HandlerArgs<H extends AnyHandler, Echo extends boolean> = Echo extends true
  ? Parameters<H> extends [unknown, ...infer Rest]
    ? Rest
    : []
  : Parameters<H>;

/** The `addTask` arguments of a task object type. */
export type TaskArgs<T> = T extends BaseTask<infer A, unknown> ? A : unknown[];
/** The result type of a task object type. */
export type TaskResult<T> = T extends BaseTask<unknown[], infer R> ? R : unknown;

/** What a task needs from an app to enqueue itself. `QueueTasks` implements it. */
export interface TaskEnqueuer {
  readonly name: string;
  enqueueMany(
    taskName: string,
    argLists: unknown[][],
    defaults: { priority: number; tags: readonly string[] },
    options: EnqueueOptions,
    // biome-ignore lint/suspicious/noExplicitAny: handle result typed by the caller
  ): Promise<TaskHandle<any>[]>;
}

/** Enqueue functions bound to per-call options. */
export interface BoundEnqueue<A extends unknown[], R> {
  addTask(...args: A): Promise<TaskHandle<R>>;
  addTasks(argLists: A[]): Promise<TaskHandle<R>[]>;
}

/**
 * A registered task: its definition, and `addTask` typed from the handler. Shared by `AsyncTask`
 * and `SyncTask`.
 */
export abstract class BaseTask<A extends unknown[] = unknown[], R = unknown> implements TaskDefinition {
  readonly taskName: string;
  readonly handler: AnyHandler;
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
  /** `"async"` or `"sync"` (QTasks parity; both enqueue asynchronously in Node). */
  abstract readonly flavour: "async" | "sync";
  /** Where the task was declared, for error messages (`app "x"`, `router`, `sharedTask`). */
  readonly origin: string;

  private boundApp: TaskEnqueuer | undefined;
  private readonly resolveDefaultApp: (() => TaskEnqueuer) | undefined;

  constructor(
    options: TaskOptions,
    handler: AnyHandler,
    origin: string,
    resolveDefaultApp?: () => TaskEnqueuer,
  ) {
    if (typeof handler !== "function") throw new InvalidOptionError("handler", "must be a function");
    const name = options.name ?? handler.name;
    validateTaskName(name);
    this.taskName = name;
    this.handler = handler;
    this.priority = validatePriority(options.priority ?? 0);
    this.echo = options.echo ?? false;
    if (options.maxTime !== undefined) this.maxTime = validateSeconds(options.maxTime, "maxTime");
    const retry = options.retry ?? 0;
    if (!Number.isInteger(retry) || retry < 0 || retry > 1000)
      throw new InvalidOptionError("retry", "must be an integer from 0 to 1000");
    this.retry = retry;
    this.retryOnExc = Object.freeze([...(options.retryOnExc ?? [])]);
    if (options.retryBackoff) this.retryBackoff = options.retryBackoff;
    if (options.decode) this.decode = options.decode;
    this.tags = Object.freeze([...(options.tags ?? [])]);
    if (options.description !== undefined) this.description = options.description;
    if (options.generateHandler) this.generateHandler = options.generateHandler;
    if (options.executor) this.executor = options.executor;
    this.middlewaresBefore = Object.freeze([...(options.middlewaresBefore ?? [])]);
    this.middlewaresAfter = Object.freeze([...(options.middlewaresAfter ?? [])]);
    this.extra = Object.freeze({ ...(options.extra ?? {}) });
    this.origin = origin;
    this.resolveDefaultApp = resolveDefaultApp;
  }

  /** Binds the task to the app it enqueues on (done by `app.task` and `app.includeRouter`). */
  bindApp(app: TaskEnqueuer): void {
    this.boundApp = app;
  }

  /** The app this task enqueues on. */
  get app(): TaskEnqueuer {
    if (this.boundApp) return this.boundApp;
    if (this.resolveDefaultApp) return this.resolveDefaultApp();
    throw new NoAppError(
      `Task ${JSON.stringify(this.taskName)} is not bound to an app: include its router with app.includeRouter(router)`,
    );
  }

  /** Enqueue one run. Resolves once the task is stored and published, with its handle. */
  async addTask(...args: A): Promise<TaskHandle<R>> {
    const [handle] = await this.app.enqueueMany(this.taskName, [args], this, {});
    return handle!;
  }

  /** Enqueue many runs in one batch (far fewer round trips than a loop of `addTask`). */
  addTasks(argLists: A[]): Promise<TaskHandle<R>[]> {
    return this.app.enqueueMany(this.taskName, argLists, this, {});
  }

  /** Per-call options: `task.with({ priority: 5, delay: 10 }).addTask(...args)`. */
  with(options: EnqueueOptions & { app?: TaskEnqueuer }): BoundEnqueue<A, R> {
    const { app, ...opts } = options;
    const target = () => app ?? this.app;
    return {
      addTask: async (...args: A) => {
        const [handle] = await target().enqueueMany(this.taskName, [args], this, opts);
        return handle!;
      },
      addTasks: (argLists: A[]) => target().enqueueMany(this.taskName, argLists, this, opts),
    };
  }
}

/** A task whose handler may be async (the default flavour). */
export class AsyncTask<A extends unknown[] = unknown[], R = unknown> extends BaseTask<A, R> {
  readonly flavour = "async" as const;
}

/** A task declared through `SyncRouter` (QTasks parity): its handler is synchronous. */
export class SyncTask<A extends unknown[] = unknown[], R = unknown> extends BaseTask<A, R> {
  readonly flavour = "sync" as const;
}

// biome-ignore lint/suspicious/noExplicitAny: any task object
export type AnyTask = BaseTask<any, any>;

/**
 * `self`, the task object passed first to echo handlers. Every run gets its own: concurrent runs
 * never share one.
 */
export interface TaskSelf {
  readonly taskName: string;
  readonly priority: number;
  readonly echo: boolean;
  readonly maxTime?: number;
  readonly retry: number;
  readonly retryOnExc: readonly ErrorClass[];
  readonly decode?: (result: unknown) => unknown;
  readonly middlewaresBefore: readonly MiddlewareBeforeEntry[];
  readonly middlewaresAfter: readonly MiddlewareAfterEntry[];
  readonly tags: readonly string[];
  readonly description?: string;
  readonly extra: Readonly<Record<string, unknown>>;
  readonly ctx: TaskContext;
  /** Enqueue another task by name (or task object) as a child of this one. Type it with the task's
   * type: `self.addTask<typeof resize>("resize", url)`. */
  addTask<T extends AnyTask = AnyTask>(
    task: string | T,
    ...args: TaskArgs<T>
  ): Promise<TaskHandle<TaskResult<T>>>;
  /** Per-call options for a child task. */
  with(options: EnqueueOptions): {
    addTask<T extends AnyTask = AnyTask>(
      task: string | T,
      ...args: TaskArgs<T>
    ): Promise<TaskHandle<TaskResult<T>>>;
  };
}

/** Handler shape accepted with `echo: true`. */
// biome-ignore lint/suspicious/noExplicitAny: the rest of the arguments are the task's own
export type EchoHandler = (self: TaskSelf, ...args: any[]) => any;

/**
 * `task(...)` overloads shared by apps, routers and `sharedTask`: `task(handler)`,
 * `task(options, handler)`; with `echo: true` the handler takes `self` first.
 */
export interface TaskFactory<T extends "async" | "sync" = "async", O extends TaskOptions = TaskOptions> {
  <H extends AnyHandler>(handler: H): TaskOf<T, Parameters<H>, HandlerResult<H>>;
  <H extends EchoHandler>(
    options: O & { echo: true },
    handler: H,
  ): TaskOf<T, HandlerArgs<H, true>, HandlerResult<H>>;
  <H extends AnyHandler>(
    options: O & { echo?: false },
    handler: H,
  ): TaskOf<T, Parameters<H>, HandlerResult<H>>;
}

export type TaskOf<T extends "async" | "sync", A extends unknown[], R> = T extends "sync"
  ? SyncTask<A, R>
  : AsyncTask<A, R>;

/** Splits `task(handler)` / `task(options, handler)` arguments. */
export function splitTaskArgs(a: unknown, b: unknown): { options: TaskOptions; handler: AnyHandler } {
  if (typeof a === "function") return { options: {}, handler: a as AnyHandler };
  if (typeof b !== "function")
    throw new InvalidOptionError("handler", "task(options, handler) needs a function");
  if (a !== undefined && (typeof a !== "object" || a === null))
    throw new InvalidOptionError("options", "must be an object");
  return { options: (a ?? {}) as TaskOptions, handler: b as AnyHandler };
}
