import type { PluginError } from "../errors";
import type { TaskContext } from "./context";
import type { TaskEnvelope } from "./record";
import type { EnqueueHookInput, EnqueuePatch, ExecutionOutcome, TaskFinishHookInput } from "./task";

/** What `aroundEnqueue` sees of one enqueue call (`addTask`, a bulk `addTasks`, `self.addTask`). */
export interface EnqueueCallHookInput {
  readonly appName: string;
  /** The task name of each task of the call, in order (a bulk call may mix names). */
  readonly taskNames: readonly string[];
  /** Set when a running task enqueues a child (`self.addTask`). */
  readonly parentUuid?: string;
}

/** What `aroundRun` sees of one run in the worker. */
export interface RunHookInput {
  readonly ctx: TaskContext;
  /** The envelope as delivered (its `extra` carries what `onEnqueue` patches added). */
  readonly envelope: TaskEnvelope;
}

/**
 * A plugin hooks into the app at fixed points. Every hook is optional and may be async. Hooks run in
 * the order the plugins were given; a hook that throws is reported (logged, `plugin:error` event)
 * and the remaining plugins still run.
 */
export interface Plugin {
  readonly name: string;
  /** Before a task is enqueued. Return a patch: only the fields it has replace the current ones
   * (a plugin that changes `priority` leaves `args` as they are). */
  onEnqueue?(input: EnqueueHookInput): void | EnqueuePatch | Promise<void | EnqueuePatch>;
  /** In the worker, before the executor runs (after the record is `process`). */
  onTaskStart?(ctx: TaskContext): void | Promise<void>;
  /** After the final record of a run was written. */
  onTaskFinish?(input: TaskFinishHookInput): void | Promise<void>;
  /**
   * A task raised `ctx.pluginError(...)`. Return an outcome to end the run with it (the first plugin
   * that returns one wins); return nothing to leave it to the next plugin. Unhandled: `error`.
   */
  onPluginError?(
    error: PluginError,
    ctx: TaskContext,
  ): void | ExecutionOutcome | Promise<void | ExecutionOutcome>;
  /**
   * Wraps one enqueue call: validation, the `onEnqueue` hooks of every task, and the storage and
   * broker writes all happen inside `enqueue()`, which resolves to the envelopes written. Call it
   * exactly once and return (or throw) what it gave. It exists so a plugin can make something
   * current for the whole call, e.g. a tracing span that `onEnqueue` then injects into `extra`.
   * The first plugin's hook is the outermost. A hook that throws before calling `enqueue` is
   * reported (as for other hooks) and the call goes on without it.
   */
  aroundEnqueue?(
    input: EnqueueCallHookInput,
    enqueue: () => Promise<readonly TaskEnvelope[]>,
  ): Promise<readonly TaskEnvelope[]>;
  /**
   * Wraps one run in the worker: the executor (middleware, handler, retry decision) runs inside
   * `run()`, after `onTaskStart` and before the final write. Call it exactly once and return the
   * outcome it gave. It exists so the handler, its logs and its `self.addTask` children run in a
   * context the plugin sets (an OpenTelemetry span through `context.with`, an AsyncLocalStorage).
   * The first plugin's hook is the outermost. A hook that throws before calling `run` is reported
   * and the run goes on without it.
   */
  aroundRun?(input: RunHookInput, run: () => Promise<ExecutionOutcome>): Promise<ExecutionOutcome>;
  /** The worker started / stopped. */
  onWorkerStart?(): void | Promise<void>;
  onWorkerStop?(): void | Promise<void>;
}
