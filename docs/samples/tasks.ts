import { QueueTasks, TaskFailedError, WaitTimeoutError } from "@qtasks/core";

const app = new QueueTasks({ name: "shop" });

// #region options
export const sendInvoice = app.task(
  {
    name: "send_invoice", // default: the function's name
    priority: 10, // -100..100, higher runs first (default 0)
    maxTime: 30, // seconds; past it the run is aborted with TaskTimeoutError
    retry: 3, // 3 retries = up to 4 runs
    tags: ["billing"],
    description: "Render and email an invoice",
    decode: (result) => ({ ...(result as object), version: 2 }), // applied before storing
    extra: { team: "billing" }, // anything else, visible as self.extra
  },
  async (orderId: string, email: string) => ({ orderId, email, sent: true }),
);
// #endregion options

// #region enqueue
const handle = await sendInvoice.addTask("A-1", "ada@example.com"); // typed from the handler
console.log(handle.uuid); // known at once

// Per-call options: never mixed with the task's own arguments.
await sendInvoice.with({ priority: 50, delay: 60, tags: ["vip"] }).addTask("A-2", "bob@example.com");

// Many in one batch (one storage write, one publish).
await sendInvoice.addTasks([
  ["A-3", "c@example.com"],
  ["A-4", "d@example.com"],
]);

// By name, when the client does not import the task (type it with the task's type).
await app.addTask<typeof sendInvoice>("send_invoice", "A-5", "e@example.com");

// A mix of tasks and options in one batch.
await app.addTasks([
  { task: "send_invoice", args: ["A-6", "f@example.com"], priority: 1 },
  { task: sendInvoice, args: ["A-7", "g@example.com"], delay: 5 },
]);

// Idempotent enqueue: a fixed uuid enqueues once; an existing record is kept.
await sendInvoice.with({ uuid: "6f1c7a4e-2b1d-4c1e-9a55-0f1e2d3c4b5a" }).addTask("A-8", "h@example.com");
// #endregion enqueue

// #region results
const record = await handle.wait({ timeout: 10 }); // the final record: success, error or cancel
console.log(record.status, record.returning, record.traceback);

try {
  const value = await handle.result({ timeout: 10 }); // typed as the handler's result
  console.log(value.sent);
} catch (error) {
  if (error instanceof TaskFailedError) console.log("failed:", error.record.traceback);
  else if (error instanceof WaitTimeoutError) console.log("still running");
  else throw error;
}

// A handle for a uuid you stored elsewhere (e.g. in an HTTP response).
const again = app.handle<{ sent: boolean }>(handle.uuid);
console.log((await again.get())?.status);
// #endregion results
