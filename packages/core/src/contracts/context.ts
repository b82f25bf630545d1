import type { Broker } from "./broker";
import type { GlobalConfig } from "./global-config";
import type { Logger } from "./logger";
import type { Plugin } from "./plugin";
import type { TaskRecord } from "./record";
import type { Storage } from "./storage";
import type { Worker } from "./worker";

/** The app config that `ctx.getConfig()` returns. */
export interface QueueTasksConfig {
  /** Tasks one worker runs at once (QTasks' `max_tasks_process`). Default 10. */
  maxTasksProcess: number;
  /**
   * Deliveries a worker claims ahead of its free slots, so the next tasks are ready the moment a
   * slot frees (their leases are renewed while they wait). Default 0: claim only what can run now.
   * Raise it for many short tasks; keep it low for long ones, which it would hold from other workers.
   */
  prefetch?: number;
  /** Largest serialized payload (args + options) `addTask` accepts, in bytes. Default 1 MiB. */
  maxPayloadBytes: number;
  /** Largest serialized result a task may store, in bytes. Default 1 MiB. */
  maxResultBytes: number;
  /** Seconds `app.stop()` lets running tasks finish before releasing them. Default 25. */
  shutdownTimeout: number;
  /** Seconds between worker heartbeats (GlobalConfig). Default 5; the heartbeat expires after 3x. */
  heartbeatInterval: number;
  /**
   * Retention run by every worker: final records finished more than `olderThanSeconds` ago are
   * purged from storage in batches every `intervalSeconds`. Default: keep everything (storages may
   * also have their own retention options).
   */
  retention?: { olderThanSeconds: number; intervalSeconds?: number; batchSize?: number };
  /** Default seconds `handle.wait()` waits when no timeout is given. Default: no limit. */
  defaultWaitTimeout?: number;
  /** Extra, user-defined settings. */
  [key: string]: unknown;
}

/** Components reachable through `ctx.getComponent(name)`, typed by name. */
export interface ComponentMap {
  broker: Broker;
  storage: Storage;
  worker: Worker;
  config: QueueTasksConfig;
  logger: Logger;
  plugins: readonly Plugin[];
  globalConfig: GlobalConfig;
}

/** The context of one running task (`self.ctx`). Every run gets its own. */
export interface TaskContext {
  readonly taskUuid: string;
  readonly taskName: string;
  /** The attempt (fencing token) of this run. */
  readonly attempt: number;
  /** Aborted when the task passes `maxTime`, is cancelled, or the worker force-stops. */
  readonly signal: AbortSignal;
  /** A logger bound to the task name and uuid (and `name`, if given). */
  getLogger(name?: string): Logger;
  /** The app config. */
  getConfig(): QueueTasksConfig;
  /** This task's stored record; memoised after the first read when `cache` is true (default). */
  getMetadata(cache?: boolean): Promise<TaskRecord>;
  /** Another task's record, or `null`. */
  getTask(uuid: string): Promise<TaskRecord | null>;
  /** Sleep `seconds`; rejects early with `TaskCancelError` (or `TaskTimeoutError`) if the run is
   * cancelled (or times out) meanwhile. */
  sleep(seconds: number): Promise<void>;
  /** End the task with status `cancel` and this reason. Never returns. */
  cancel(reason: string): never;
  /** Raise a `PluginError`; plugins' `onPluginError` hooks handle it, else the task ends `error`. */
  pluginError(message: string, data?: unknown): never;
  /** A component of the app, by name. An unknown name throws `UnknownComponentError`. */
  getComponent<K extends keyof ComponentMap>(name: K): ComponentMap[K];
}
