import { DuplicateTaskError } from "./errors";
import {
  type AnyHandler,
  type AnyTask,
  AsyncTask,
  SyncTask,
  splitTaskArgs,
  type TaskEnqueuer,
  type TaskFactory,
} from "./task";

/**
 * Tasks by name. A `Map`, so a name read from a broker (`__proto__`, `constructor`) is only ever an
 * unknown key, never an object property.
 */
export class TaskRegistry {
  private readonly tasks = new Map<string, AnyTask>();

  /** Adds a task; a name that is taken throws `DuplicateTaskError` naming both origins. */
  register(task: AnyTask): void {
    const existing = this.tasks.get(task.taskName);
    if (existing && existing !== task)
      throw new DuplicateTaskError(task.taskName, existing.origin, task.origin);
    this.tasks.set(task.taskName, task);
  }

  get(name: string): AnyTask | undefined {
    return this.tasks.get(name);
  }

  has(name: string): boolean {
    return this.tasks.has(name);
  }

  delete(name: string): boolean {
    return this.tasks.delete(name);
  }

  list(): AnyTask[] {
    return [...this.tasks.values()];
  }

  get size(): number {
    return this.tasks.size;
  }
}

/**
 * Builds a `task(...)` function that creates tasks of one flavour and hands each to `register`.
 * Used by apps, routers and `sharedTask`.
 */
export function createTaskFactory<F extends "async" | "sync">(
  flavour: F,
  origin: string,
  register: (task: AnyTask) => void,
  resolveDefaultApp?: () => TaskEnqueuer,
): TaskFactory<F> {
  const factory = (a: unknown, b?: unknown) => {
    const { options, handler } = splitTaskArgs(a, b);
    const Cls = flavour === "sync" ? SyncTask : AsyncTask;
    const task = new Cls(options, handler as AnyHandler, origin, resolveDefaultApp);
    register(task);
    return task;
  };
  return factory as TaskFactory<F>;
}
