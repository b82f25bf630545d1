import type { Broker, BrokerStats, DeadLetter, FusedOperations, PublishMessage } from "./contracts/broker";
import type { ComponentContext } from "./contracts/component";
import type { QueueTasksConfig } from "./contracts/context";
import type { GlobalConfig, WorkerInfo } from "./contracts/global-config";
import type { Logger } from "./contracts/logger";
import type { Plugin } from "./contracts/plugin";
import type { NewTaskRecord, TaskEnvelope, TaskRecord, TaskStatus } from "./contracts/record";
import type { CancelResult, Storage } from "./contracts/storage";
import type {
  EnqueueOptions,
  Middleware,
  MiddlewareAfterEntry,
  MiddlewareBeforeEntry,
} from "./contracts/task";
import type { WorkerStopOptions } from "./contracts/worker";
import { isUuid } from "./envelope";
import { DuplicateTaskError, InvalidOptionError, NotStartedError, QTasksError } from "./errors";
import { type QueueTasksEvents, TypedEmitter } from "./events";
import { TaskHandle, type WaitHooks } from "./handle";
import { newUuid } from "./ids";
import { ConsoleLogger } from "./logger";
import { MemoryBroker } from "./memory/memory-broker";
import { MemoryGlobalConfig } from "./memory/memory-global-config";
import { MemoryStorage } from "./memory/memory-storage";
import { isPinoLogger, type PinoLike, pinoLogger } from "./pino-logger";
import { runAround } from "./plugin-around";
import { createTaskFactory, TaskRegistry } from "./registry";
import { forgetApp, lookupSharedTask, rememberApp, type SharedTaskHost, sharedTasks } from "./shared-task";
import type { AnyTask, TaskArgs, TaskFactory, TaskResult } from "./task";
import {
  encodeJson,
  validateAppName,
  validatePriority,
  validateSeconds,
  validateTaskName,
} from "./validation";
import { DefaultWorker } from "./worker";

export interface QueueTasksOptions {
  /** The app name; adapters namespace keys and queues with it. Default `"qtasks"`. */
  name?: string;
  /** Default: an in-memory broker (this process only). */
  broker?: Broker;
  /** Default: an in-memory storage (this process only). */
  storage?: Storage;
  /** Default: an in-memory GlobalConfig. */
  globalConfig?: GlobalConfig;
  config?: Partial<QueueTasksConfig>;
  /** Default: `ConsoleLogger` (level from `QTASKS_LOG_LEVEL`, default info). A pino logger is
   * adapted (`pinoLogger`). */
  logger?: Logger | PinoLike;
  plugins?: Plugin[];
}

/** Options of `app.start()`. */
export interface StartOptions {
  /** Run a worker in this process (default true). `false`: a client that only enqueues and waits. */
  worker?: boolean;
  /** Overrides `config.maxTasksProcess` for this worker. */
  concurrency?: number;
}

/** One item of `app.addTasks`. */
export interface BulkTaskItem<T extends AnyTask = AnyTask> extends EnqueueOptions {
  task: string | T;
  args: TaskArgs<T>;
}

/** Queue statistics for `qtasks stats` and monitoring. */
export interface QueueStats {
  broker: BrokerStats;
  statuses: Record<TaskStatus, number>;
  workers: WorkerInfo[];
}

const DEFAULT_CONFIG: QueueTasksConfig = {
  maxTasksProcess: 10,
  maxPayloadBytes: 1024 * 1024,
  maxResultBytes: 1024 * 1024,
  shutdownTimeout: 25,
  heartbeatInterval: 5,
};

/**
 * The app: a registry of tasks, a broker, a storage, and (once started) a worker.
 *
 * `new QueueTasks()` runs everything in this process (in-memory broker and storage), so you can try
 * it with no services; pass real ones for production. Clients connect lazily on the first
 * `addTask`; `start()` also starts a worker.
 */
export class QueueTasks implements SharedTaskHost {
  readonly name: string;
  readonly broker: Broker;
  readonly storage: Storage;
  readonly globalConfig: GlobalConfig;
  readonly config: QueueTasksConfig;
  readonly logger: Logger;
  readonly plugins: readonly Plugin[];
  readonly events: TypedEmitter<QueueTasksEvents>;
  /** App-wide middleware, run before each task's own. */
  readonly middlewaresBefore: MiddlewareBeforeEntry[] = [];
  readonly middlewaresAfter: MiddlewareAfterEntry[] = [];

  /** Register a task: `app.task(handler)` or `app.task(options, handler)`. */
  readonly task: TaskFactory<"async">;

  private readonly registry = new TaskRegistry();
  private worker: DefaultWorker | undefined;
  private connecting: Promise<void> | undefined;
  private stopped = false;
  /** What `broker.fuse(storage)` offered after connecting (see `Broker.fuse`). */
  private fused: FusedOperations | undefined;
  /** Plugins with an `aroundEnqueue` hook (most apps: none, and enqueues skip the wrapping). */
  private readonly enqueueWrappers: readonly Plugin[];

  constructor(options: QueueTasksOptions = {}) {
    const name = options.name ?? "qtasks";
    validateAppName(name);
    this.name = name;
    this.broker = options.broker ?? new MemoryBroker();
    this.storage = options.storage ?? new MemoryStorage();
    this.globalConfig = options.globalConfig ?? new MemoryGlobalConfig();
    this.config = { ...DEFAULT_CONFIG, ...options.config };
    validateSeconds(this.config.shutdownTimeout, "config.shutdownTimeout");
    if (!Number.isInteger(this.config.maxTasksProcess) || this.config.maxTasksProcess < 1)
      throw new InvalidOptionError("config.maxTasksProcess", "must be a positive integer");
    const logger = options.logger ?? new ConsoleLogger();
    this.logger = (isPinoLogger(logger) ? pinoLogger(logger) : (logger as Logger)).child({ app: name });
    this.plugins = Object.freeze([...(options.plugins ?? [])]);
    this.enqueueWrappers = this.plugins.filter((p) => p.aroundEnqueue);
    this.events = new TypedEmitter<QueueTasksEvents>((event, error) =>
      this.logger.error("event listener failed", { event: String(event), error }),
    );
    this.task = createTaskFactory("async", `app ${JSON.stringify(name)}`, (task) => {
      this.assertFreeName(task);
      this.registry.register(task);
      task.bindApp(this);
    });
    rememberApp(this);
  }

  /** Adds every task of a router to this app. A name clash throws `DuplicateTaskError`. */
  includeRouter(router: { readonly tasks: readonly AnyTask[] }): void {
    for (const task of router.tasks) this.assertFreeName(task);
    for (const task of router.tasks) {
      this.registry.register(task);
      task.bindApp(this);
    }
  }

  /** App-wide middleware around every task: its `before` runs before the task's own, its `after`
   * after them. */
  addMiddleware(middleware: Middleware): void {
    if (middleware.before) this.middlewaresBefore.push(middleware);
    if (middleware.after) this.middlewaresAfter.push(middleware);
  }

  /** A task this app runs (its own, a router's, or a shared one), by name. */
  lookupTask(name: string): AnyTask | undefined {
    return this.registry.get(name) ?? lookupSharedTask(name);
  }

  /** Every task this app runs. */
  listTasks(): AnyTask[] {
    const own = this.registry.list();
    const names = new Set(own.map((t) => t.taskName));
    return [...own, ...sharedTasks().filter((t) => !names.has(t.taskName))];
  }

  /** Connect the broker, storage and GlobalConfig (a client needs no more). Idempotent. */
  connect(): Promise<void> {
    if (this.stopped) return Promise.reject(new NotStartedError(`app ${this.name} was stopped`));
    if (!this.connecting) {
      const ctx: ComponentContext = { appName: this.name, logger: this.logger };
      this.connecting = (async () => {
        await this.storage.start(ctx);
        await this.broker.start(ctx);
        await this.globalConfig.start(ctx);
        this.fused = this.broker.fuse?.(this.storage);
        if (this.fused) this.logger.debug("broker and storage fused: one round trip per step");
      })();
      this.connecting.catch(() => {
        this.connecting = undefined;
      });
    }
    return this.connecting;
  }

  /** Connect and start a worker in this process (unless `{ worker: false }`). */
  async start(options: StartOptions = {}): Promise<void> {
    await this.connect();
    if (options.worker === false || this.worker) return;
    this.worker = new DefaultWorker(this.workerHost(), { concurrency: options.concurrency });
    await this.worker.start();
  }

  /**
   * Start, then run until SIGTERM or SIGINT, then stop gracefully (`config.shutdownTimeout`).
   * A second signal exits at once.
   */
  async runForever(options: StartOptions = {}): Promise<void> {
    const { ProcessStarter } = await import("./starter");
    await new ProcessStarter(this, options).run();
  }

  /** Stop the worker (see `Worker.stop`), then close the components. */
  async stop(options: WorkerStopOptions = {}): Promise<void> {
    if (this.worker) {
      await this.worker.stop(options);
      this.worker = undefined;
    }
    if (this.connecting) {
      await this.connecting.catch(() => {});
      await this.globalConfig.stop();
      await this.broker.stop();
      await this.storage.stop();
    }
    this.connecting = undefined;
    this.fused = undefined;
    this.stopped = true;
    forgetApp(this);
  }

  /** The running worker, if any. */
  get currentWorker(): DefaultWorker | undefined {
    return this.worker;
  }

  /**
   * Enqueue a task by name or task object. Type it with the task's type when you only have the
   * name: `app.addTask<typeof resize>("resize", url, 200)`.
   */
  async addTask<T extends AnyTask = AnyTask>(
    task: string | T,
    ...args: TaskArgs<T>
  ): Promise<TaskHandle<TaskResult<T>>> {
    const [handle] = await this.enqueueByRef(task, [args as unknown[]], {});
    return handle as TaskHandle<TaskResult<T>>;
  }

  /** Enqueue many tasks (any mix of names and options) in one batch. */
  async addTasks(items: BulkTaskItem[]): Promise<TaskHandle<unknown>[]> {
    const names = () => items.map(({ task }) => (typeof task === "string" ? task : task.taskName));
    return this.aroundEnqueue(names, undefined, async () => {
      await this.connect();
      const records: NewTaskRecord[] = [];
      const messages: PublishMessage[] = [];
      const handles: TaskHandle<unknown>[] = [];
      for (const { task, args, ...options } of items) {
        const { name, defaults } = this.resolveTask(task);
        const prepared = await this.prepare(name, [args as unknown[]], defaults, options);
        records.push(...prepared.records);
        messages.push(...prepared.messages);
        handles.push(...prepared.handles);
      }
      await this.commit(records, messages);
      return { handles, messages };
    });
  }

  /** Per-call options for name-based enqueues: `app.with({ delay: 5 }).addTask("report", id)`. */
  with(options: EnqueueOptions) {
    return {
      addTask: async <T extends AnyTask = AnyTask>(
        task: string | T,
        ...args: TaskArgs<T>
      ): Promise<TaskHandle<TaskResult<T>>> => {
        const [handle] = await this.enqueueByRef(task, [args as unknown[]], options);
        return handle as TaskHandle<TaskResult<T>>;
      },
      addTasks: <T extends AnyTask = AnyTask>(
        task: string | T,
        argLists: TaskArgs<T>[],
      ): Promise<TaskHandle<TaskResult<T>>[]> =>
        this.enqueueByRef(task, argLists as unknown[][], options) as Promise<TaskHandle<TaskResult<T>>[]>,
    };
  }

  /** A handle for a known uuid (to wait on a task enqueued elsewhere). */
  handle<R = unknown>(uuid: string, taskName = ""): TaskHandle<R> {
    return new TaskHandle<R>(uuid, taskName, this.storage, this.config.defaultWaitTimeout);
  }

  /** A task record, or `null`. */
  async get(uuid: string): Promise<TaskRecord | null> {
    await this.connect();
    return this.storage.get(uuid);
  }

  /** Cancel a task: at once if it has not started, else its running handler is signalled. */
  async cancel(uuid: string, reason = "cancelled"): Promise<CancelResult> {
    await this.connect();
    return this.storage.requestCancel(uuid, reason);
  }

  async listDeadLetters(options?: { limit?: number }): Promise<DeadLetter[]> {
    await this.connect();
    return this.broker.listDeadLetters(options);
  }

  /** Re-drive dead letters (all, or these ids): their records go back to `new`, then they are
   * published again. */
  async redriveDeadLetters(ids?: string[]): Promise<number> {
    await this.connect();
    const letters = await this.broker.listDeadLetters({ limit: 10_000 });
    const chosen = letters.filter((d) => d.envelope && (!ids || ids.includes(d.id)));
    for (const d of chosen) await this.storage.requeue(d.envelope!.uuid);
    return this.broker.redriveDeadLetters(chosen.map((d) => d.id));
  }

  async stats(): Promise<QueueStats> {
    await this.connect();
    const [broker, statuses, workers] = await Promise.all([
      this.broker.stats(),
      this.storage.count(),
      this.globalConfig.listWorkers(),
    ]);
    return { broker, statuses, workers };
  }

  /** @internal TaskEnqueuer: used by task objects. */
  async enqueueMany(
    taskName: string,
    argLists: unknown[][],
    defaults: { priority: number; tags: readonly string[] },
    options: EnqueueOptions,
  ): Promise<TaskHandle<unknown>[]> {
    return this.enqueueInternal(taskName, argLists, defaults, options);
  }

  /** @internal used by the worker for `self.addTask`. */
  async enqueueChild(
    parentUuid: string,
    task: string | AnyTask,
    args: unknown[],
    options: EnqueueOptions,
    hooks: WaitHooks,
  ): Promise<TaskHandle<unknown>> {
    const { name, defaults } = this.resolveTask(task);
    const [handle] = await this.enqueueInternal(name, [args], defaults, options, parentUuid, hooks);
    return handle!;
  }

  private enqueueByRef(task: string | AnyTask, argLists: unknown[][], options: EnqueueOptions) {
    const { name, defaults } = this.resolveTask(task);
    return this.enqueueInternal(name, argLists, defaults, options);
  }

  /** A task's name and enqueue defaults; a name this process does not know gets priority 0. */
  private resolveTask(task: string | AnyTask) {
    const known = typeof task === "string" ? this.lookupTask(task) : task;
    return {
      name: typeof task === "string" ? task : task.taskName,
      defaults: { priority: known?.priority ?? 0, tags: known?.tags ?? [] },
    };
  }

  private async enqueueInternal(
    taskName: string,
    argLists: unknown[][],
    defaults: { priority: number; tags: readonly string[] },
    options: EnqueueOptions,
    parentUuid?: string,
    hooks?: WaitHooks,
  ): Promise<TaskHandle<unknown>[]> {
    const names = () => (Array.isArray(argLists) ? argLists.map(() => taskName) : []);
    return this.aroundEnqueue(names, parentUuid, async () => {
      const prepared = await this.prepare(taskName, argLists, defaults, options, parentUuid, hooks);
      await this.connect();
      await this.commit(prepared.records, prepared.messages);
      return prepared;
    });
  }

  /** Runs one enqueue call inside the plugins' `aroundEnqueue` hooks (see `Plugin.aroundEnqueue`). */
  private async aroundEnqueue(
    taskNames: () => string[],
    parentUuid: string | undefined,
    enqueue: () => Promise<{ handles: TaskHandle<unknown>[]; messages: PublishMessage[] }>,
  ): Promise<TaskHandle<unknown>[]> {
    if (this.enqueueWrappers.length === 0) return (await enqueue()).handles;
    let handles: TaskHandle<unknown>[] = [];
    const input = { appName: this.name, taskNames: taskNames(), ...(parentUuid ? { parentUuid } : {}) };
    await runAround(
      this.enqueueWrappers,
      (plugin, i: typeof input, next) => plugin.aroundEnqueue!(i, next),
      input,
      async (): Promise<readonly TaskEnvelope[]> => {
        const done = await enqueue();
        handles = done.handles;
        return done.messages.map((m) => m.envelope);
      },
      (plugin, error) => {
        this.events.emit("plugin:error", { plugin: plugin.name, hook: "aroundEnqueue", error });
        this.logger.error("plugin aroundEnqueue hook failed", { plugin: plugin.name, error });
      },
    );
    return handles;
  }

  /** Validates and builds records, envelopes and handles; no I/O. */
  private async prepare(
    taskName: string,
    argLists: unknown[][],
    defaults: { priority: number; tags: readonly string[] },
    options: EnqueueOptions,
    parentUuid?: string,
    hooks?: WaitHooks,
  ) {
    validateTaskName(taskName);
    if (!Array.isArray(argLists))
      throw new InvalidOptionError("argLists", "must be an array of argument lists");
    if (options.uuid !== undefined) {
      if (!isUuid(options.uuid)) throw new InvalidOptionError("uuid", "must be a UUID");
      if (argLists.length > 1) throw new InvalidOptionError("uuid", "a fixed uuid enqueues one task only");
    }
    const basePriority = validatePriority(options.priority ?? defaults.priority);
    const baseDelay = options.delay === undefined ? 0 : validateSeconds(options.delay, "delay");
    if (options.timeout !== undefined) validateSeconds(options.timeout, "timeout");
    const baseExtra = options.extra ?? {};
    const tags = [...defaults.tags, ...(options.tags ?? [])];
    if (!tags.every((t) => typeof t === "string")) throw new InvalidOptionError("tags", "must be strings");
    const timeout = options.timeout ?? this.config.defaultWaitTimeout;
    const enqueueHooks = this.plugins.filter((p) => p.onEnqueue);

    const records: NewTaskRecord[] = [];
    const messages: PublishMessage[] = [];
    const handles: TaskHandle<unknown>[] = [];
    const now = Date.now();
    for (const rawArgs of argLists) {
      if (!Array.isArray(rawArgs))
        throw new InvalidOptionError("args", "each argument list must be an array");
      // Trailing undefined arguments are omitted optional parameters: drop them rather than refuse.
      let end = rawArgs.length;
      while (end > 0 && rawArgs[end - 1] === undefined) end--;
      let args = end === rawArgs.length ? rawArgs : rawArgs.slice(0, end);
      let priority = basePriority;
      let delay = baseDelay;
      let extra = baseExtra;
      for (const plugin of enqueueHooks) {
        try {
          const patch = await plugin.onEnqueue!({ taskName, args, priority, delay, extra });
          if (patch) {
            // Merge only what the plugin returned: a priority change keeps the arguments.
            if (patch.args !== undefined) args = patch.args;
            if (patch.priority !== undefined) priority = validatePriority(patch.priority);
            if (patch.delay !== undefined) delay = validateSeconds(patch.delay, "delay");
            if (patch.extra !== undefined) extra = patch.extra;
          }
        } catch (error) {
          if (error instanceof QTasksError && error.code === "QTASKS_INVALID_OPTION") throw error;
          this.events.emit("plugin:error", { plugin: plugin.name, hook: "onEnqueue", error });
          this.logger.error("plugin onEnqueue hook failed", { plugin: plugin.name, error });
        }
      }
      // Validates args and extra (JSON-safe, within the payload limit) before any I/O.
      encodeJson({ args, extra }, "payload", this.config.maxPayloadBytes);
      const uuid = options.uuid ?? newUuid();
      const envelope: TaskEnvelope = { v: 1, uuid, taskName, args, priority, retries: 0, enqueuedAt: now };
      if (parentUuid) envelope.parentUuid = parentUuid;
      if (tags.length > 0) envelope.tags = tags;
      if (Object.keys(extra).length > 0) envelope.extra = extra;
      const record: NewTaskRecord = {
        uuid,
        taskName,
        priority,
        args,
        retries: 0,
        tags,
        extra,
        createdAt: new Date(now),
      };
      if (parentUuid) record.parentUuid = parentUuid;
      records.push(record);
      messages.push(delay > 0 ? { envelope, delay } : { envelope });
      handles.push(new TaskHandle(uuid, taskName, this.storage, timeout, hooks));
    }
    return { records, messages, handles };
  }

  /** Storage first, then the broker: a published envelope always has its record. */
  private async commit(records: NewTaskRecord[], messages: PublishMessage[]): Promise<void> {
    if (records.length === 0) return;
    if (this.fused) await this.fused.enqueue(records, messages);
    else {
      await this.storage.add(records);
      await this.broker.publish(messages);
    }
    if (this.events.has("task:enqueue"))
      for (const m of messages)
        this.events.emit("task:enqueue", {
          uuid: m.envelope.uuid,
          taskName: m.envelope.taskName,
          priority: m.envelope.priority,
          delay: m.delay ?? 0,
        });
  }

  /** @internal whether this app registered a task of that name itself (not a shared one). */
  hasOwnTask(name: string): boolean {
    return this.registry.has(name);
  }

  private assertFreeName(task: AnyTask): void {
    const mine = this.registry.get(task.taskName) ?? lookupSharedTask(task.taskName);
    if (mine && mine !== task) throw new DuplicateTaskError(task.taskName, mine.origin, task.origin);
  }

  private workerHost() {
    return {
      name: this.name,
      broker: this.broker,
      storage: this.storage,
      globalConfig: this.globalConfig,
      config: this.config,
      logger: this.logger,
      plugins: this.plugins,
      events: this.events,
      middlewaresBefore: this.middlewaresBefore,
      middlewaresAfter: this.middlewaresAfter,
      fused: () => this.fused,
      lookupTask: (name: string) => this.lookupTask(name),
      enqueueChild: this.enqueueChild.bind(this),
    };
  }
}
