import type { ComponentMap, QueueTasksConfig, TaskContext } from "./contracts/context";
import type { Logger } from "./contracts/logger";
import type { TaskRecord } from "./contracts/record";
import type { Storage, Unsubscribe } from "./contracts/storage";
import type { EnqueueOptions } from "./contracts/task";
import { PluginError, TaskCancelError, UnknownComponentError } from "./errors";
import type { TaskHandle } from "./handle";
import type { LazyAbortController } from "./lazy-abort";
import type { AnyTask, TaskArgs, TaskResult, TaskSelf } from "./task";
import { validateSeconds } from "./validation";

/** What a run context needs from the worker that runs it. */
export interface RunScope {
  readonly uuid: string;
  readonly taskName: string;
  readonly attempt: number;
  readonly controller: LazyAbortController;
  readonly logger: Logger;
  readonly storage: Storage;
  readonly config: QueueTasksConfig;
  readonly components: Partial<ComponentMap>;
  /** Enqueue a child task with this run as its parent. */
  enqueueChild(
    task: string | AnyTask,
    args: unknown[],
    options: EnqueueOptions,
  ): Promise<TaskHandle<unknown>>;
}

/**
 * The context of one run (`self.ctx`). Created by the worker for every run; never shared.
 * Cancellation requested from outside (`handle.cancel()`) is watched lazily: only once the task
 * reads `ctx.signal` or sleeps, so a task that never looks costs no subscription.
 */
export class RunContext implements TaskContext {
  private metadata: TaskRecord | undefined;
  private cancelWatch: Promise<Unsubscribe> | undefined;

  constructor(private readonly scope: RunScope) {}

  get taskUuid(): string {
    return this.scope.uuid;
  }
  get taskName(): string {
    return this.scope.taskName;
  }
  get attempt(): number {
    return this.scope.attempt;
  }
  get signal(): AbortSignal {
    this.watchCancel();
    return this.scope.controller.signal;
  }

  getLogger(name?: string): Logger {
    return this.scope.logger.child(name ? { logger: name } : {});
  }

  getConfig(): QueueTasksConfig {
    return this.scope.config;
  }

  async getMetadata(cache = true): Promise<TaskRecord> {
    if (cache && this.metadata) return this.metadata;
    const record = await this.scope.storage.get(this.scope.uuid);
    if (!record) throw new Error(`Task record ${this.scope.uuid} is missing from storage`);
    this.metadata = record;
    return record;
  }

  getTask(uuid: string): Promise<TaskRecord | null> {
    return this.scope.storage.get(uuid);
  }

  sleep(seconds: number): Promise<void> {
    validateSeconds(seconds, "seconds");
    this.watchCancel();
    const signal = this.scope.controller.signal;
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, seconds * 1000);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  cancel(reason: string): never {
    throw new TaskCancelError(reason);
  }

  pluginError(message: string, data?: unknown): never {
    throw new PluginError(message, undefined, data);
  }

  getComponent<K extends keyof ComponentMap>(name: K): ComponentMap[K] {
    // Own-property check: `constructor`, `__proto__` and friends are unknown names here.
    if (typeof name !== "string" || !Object.hasOwn(this.scope.components, name))
      throw new UnknownComponentError(String(name));
    return this.scope.components[name] as ComponentMap[K];
  }

  /** Stops watching for cancellation (called by the worker when the run ends). */
  async dispose(): Promise<void> {
    const w = this.cancelWatch;
    this.cancelWatch = undefined;
    if (w) await (await w)().catch(() => {});
  }

  private watchCancel(): void {
    if (this.cancelWatch) return;
    const { storage, uuid, controller } = this.scope;
    const check = async () => {
      if (controller.aborted) return;
      const record = await storage.get(uuid).catch(() => null);
      if (record?.cancelReason && !controller.aborted)
        controller.abort(new TaskCancelError(record.cancelReason));
    };
    this.cancelWatch = storage.subscribe(uuid, (event) => {
      if (event.kind === "cancel" || event.kind === "resync") void check();
    });
    // A cancellation requested before we subscribed is in the record.
    this.cancelWatch.then(check, () => {});
  }
}

/** Builds the `self` of one run of an echo task. */
export function createTaskSelf(task: AnyTask, ctx: RunContext, scope: RunScope): TaskSelf {
  const addTask = (options: EnqueueOptions) =>
    function addChild<T extends AnyTask = AnyTask>(
      target: string | T,
      ...args: TaskArgs<T>
    ): Promise<TaskHandle<TaskResult<T>>> {
      return scope.enqueueChild(target, args as unknown[], options) as Promise<TaskHandle<TaskResult<T>>>;
    };
  const self: TaskSelf = {
    taskName: task.taskName,
    priority: task.priority,
    echo: task.echo,
    ...(task.maxTime === undefined ? {} : { maxTime: task.maxTime }),
    retry: task.retry,
    retryOnExc: task.retryOnExc,
    ...(task.decode ? { decode: task.decode } : {}),
    middlewaresBefore: task.middlewaresBefore,
    middlewaresAfter: task.middlewaresAfter,
    tags: task.tags,
    ...(task.description === undefined ? {} : { description: task.description }),
    extra: task.extra,
    ctx,
    addTask: addTask({}),
    with: (options: EnqueueOptions) => ({ addTask: addTask(options) }),
  };
  return Object.freeze(self);
}
