import { DuplicateTaskError, NoAppError } from "./errors";
import { createTaskFactory, TaskRegistry } from "./registry";
import type { AnyTask, TaskEnqueuer, TaskFactory } from "./task";

// Process-wide state: shared tasks are declared by libraries that know no app.
const registry = new TaskRegistry();
const apps = new Set<TaskEnqueuer>();

/** @internal apps register themselves so that shared tasks can find "the one app". */
export function rememberApp(app: TaskEnqueuer): void {
  apps.add(app);
}

/** @internal */
export function forgetApp(app: TaskEnqueuer): void {
  apps.delete(app);
}

/** @internal */
export function lookupSharedTask(name: string): AnyTask | undefined {
  return registry.get(name);
}

/** Every shared task declared so far. */
export function sharedTasks(): AnyTask[] {
  return registry.list();
}

function defaultApp(): TaskEnqueuer {
  if (apps.size === 1) return apps.values().next().value as TaskEnqueuer;
  if (apps.size === 0)
    throw new NoAppError(
      "A shared task was enqueued but no QueueTasks app exists in this process: create one, or use task.with({ app }).addTask(...)",
    );
  throw new NoAppError(
    `A shared task was enqueued but ${apps.size} QueueTasks apps exist (${[...apps].map((a) => a.name).join(", ")}): name one with task.with({ app }).addTask(...)`,
  );
}

/**
 * Declare a task outside any app (for libraries and reusable modules). Every `QueueTasks` app in the
 * process runs it, whether it was created before or after. Its `addTask` uses the one app that
 * exists, or the app given with `.with({ app })`.
 */
export const sharedTask: TaskFactory<"async"> = createTaskFactory(
  "async",
  "sharedTask",
  (task) => {
    const existing = registry.get(task.taskName);
    if (existing && existing !== task)
      throw new DuplicateTaskError(task.taskName, existing.origin, task.origin);
    registry.register(task);
  },
  defaultApp,
);
