import { type AnyTask, createTaskFactory, type TaskFactory, TaskRegistry } from "@qtasks/core";

/**
 * A group of tasks declared without an app, in their own module. `router.task(...)` registers into
 * the router only; `app.includeRouter(router)` hands the tasks to the app (a name clash with a task
 * the app already has throws `DuplicateTaskError` naming both). Once included, the router's tasks
 * enqueue on that app.
 */
abstract class BaseRouter<F extends "async" | "sync"> {
  private readonly registry = new TaskRegistry();
  /** Register a task in this router: `router.task(handler)` or `router.task(options, handler)`. */
  readonly task: TaskFactory<F>;

  constructor(flavour: F, name?: string) {
    const origin = name
      ? `router ${JSON.stringify(name)}`
      : `${flavour === "sync" ? "SyncRouter" : "AsyncRouter"}`;
    this.task = createTaskFactory(flavour, origin, (task) => this.registry.register(task));
  }

  /** The tasks registered so far, in registration order. */
  get tasks(): readonly AnyTask[] {
    return this.registry.list();
  }
}

/** A router of async tasks (the usual kind). */
export class AsyncRouter extends BaseRouter<"async"> {
  constructor(options: { name?: string } = {}) {
    super("async", options.name);
  }
}

/**
 * A router of tasks whose handlers are synchronous (QTasks' `SyncRouter`). Its tasks are `SyncTask`s;
 * enqueueing them is still asynchronous in Node.
 */
export class SyncRouter extends BaseRouter<"sync"> {
  constructor(options: { name?: string } = {}) {
    super("sync", options.name);
  }
}
