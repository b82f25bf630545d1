import { DuplicateTaskError, NoAppError } from "./errors";
import { createTaskFactory, TaskRegistry } from "./registry";
import type { AnyTask, SharedTaskOptions, TaskEnqueuer, TaskFactory } from "./task";

/** What the shared registry needs from an app: its name and whether it has a task of its own. */
export interface SharedTaskHost extends TaskEnqueuer {
  hasOwnTask(name: string): boolean;
}

// Process-wide state: shared tasks are declared by libraries that know no app.
const registry = new TaskRegistry();
const apps = new Set<SharedTaskHost>();

/** @internal apps register themselves so that shared tasks can find "the one app". */
export function rememberApp(app: SharedTaskHost): void {
  apps.add(app);
}

/** @internal */
export function forgetApp(app: SharedTaskHost): void {
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
 * exists, or the app given with `.with({ app })`. Shared tasks are always `AsyncTask`s in Node, so
 * `awaiting: true` (QTasks parity) is accepted and changes nothing. A shared task whose name an app
 * already uses for its own task is refused with `DuplicateTaskError` naming both.
 */
export const sharedTask: TaskFactory<"async", SharedTaskOptions> = createTaskFactory(
  "async",
  "sharedTask",
  (task) => {
    for (const app of apps) {
      if (app.hasOwnTask(task.taskName))
        throw new DuplicateTaskError(task.taskName, `app ${JSON.stringify(app.name)}`, task.origin);
    }
    registry.register(task);
  },
  defaultApp,
);
