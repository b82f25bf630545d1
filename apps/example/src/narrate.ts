import type { QueueTasks } from "@qtasks/core";

/** Prints what a worker does, one line per event (used when the worker runs in its own process). */
export function logWorkerEvents(app: QueueTasks, print: (line: string) => void): void {
  app.events.on("worker:start", (e) => print(`worker ${e.workerId} started, concurrency ${e.concurrency}`));
  app.events.on("task:start", (e) =>
    print(`start   ${e.taskName} ${e.uuid.slice(0, 8)} (retry ${e.retries})`),
  );
  app.events.on("task:success", (e) =>
    print(`success ${e.taskName} ${e.uuid.slice(0, 8)} in ${e.durationMs} ms`),
  );
  app.events.on("task:error", (e) =>
    print(`error   ${e.taskName} ${e.uuid.slice(0, 8)}: ${e.record.errorName}`),
  );
  app.events.on("task:retry", (e) =>
    print(`retry   ${e.taskName} ${e.uuid.slice(0, 8)} -> ${e.retryUuid.slice(0, 8)}`),
  );
  app.events.on("task:cancel", (e) => print(`cancel  ${e.taskName} ${e.uuid.slice(0, 8)}: ${e.reason}`));
  app.events.on("worker:stop", (e) => print(`worker stopped (${e.released} released)`));
}

/** Short JSON for the narrative, keys sorted: PostgreSQL's jsonb does not keep key order. */
export function show(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
