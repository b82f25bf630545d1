import { type Plugin, QueueTasks } from "@qtasks/core";

// #region plugin
/** Tenants on the paid plan jump the queue; failures are reported to an error tracker. */
export const tenantPriority: Plugin = {
  name: "tenant-priority",
  onEnqueue(input) {
    // Return a patch: only the fields given replace the current ones.
    if (input.extra.plan === "paid") return { priority: Math.min(100, input.priority + 20) };
  },
  onTaskStart(ctx) {
    ctx.getLogger("tenant").debug("started", { uuid: ctx.taskUuid });
  },
  onTaskFinish({ record }) {
    if (record.status === "error") console.error(`task ${record.taskName} failed: ${record.errorName}`);
  },
  onPluginError(error) {
    // Raised by a task with ctx.pluginError(message, data). Return an outcome, or nothing to pass.
    if (error.data === "quota") return { status: "cancel", reason: "tenant over quota" };
  },
  onWorkerStart() {},
  onWorkerStop() {},
};
// #endregion plugin

// #region events
const app = new QueueTasks({ plugins: [tenantPriority] });

app.events.on("task:success", (e) => console.log(`${e.taskName} ${e.uuid} took ${e.durationMs} ms`));
app.events.on("task:error", (e) => console.log(`${e.taskName} failed: ${e.record.errorName}`));
app.events.on("task:retry", (e) => console.log(`${e.taskName} retried as ${e.retryUuid} in ${e.delay} s`));
app.events.on("task:dead-letter", (e) => console.log(`dead letter: ${e.reason}`));
const off = app.events.on("plugin:error", (e) => console.log(`plugin ${e.plugin}.${e.hook} failed`));
off(); // every `on` returns its unsubscribe
// #endregion events
