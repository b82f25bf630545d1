import type { PluginError } from "../errors";
import type { TaskContext } from "./context";
import type { EnqueueHookInput, EnqueuePatch, ExecutionOutcome, TaskFinishHookInput } from "./task";

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
  /** The worker started / stopped. */
  onWorkerStart?(): void | Promise<void>;
  onWorkerStop?(): void | Promise<void>;
}
