import { QueueTasks } from "@qtasks/core";

class CardDeclinedError extends Error {}
class GatewayTimeoutError extends Error {}

// #region app
// One app replaces Queue + Worker + QueueEvents; the task replaces the job name + processor.
const app = new QueueTasks({ name: "payments" /* broker: new RedisBroker(), storage: new RedisStorage() */ });

export const charge = app.task(
  {
    name: "charge",
    retry: 4, // BullMQ attempts: 5
    retryOnExc: [GatewayTimeoutError], // anything else fails at once (BullMQ: UnrecoverableError)
    retryBackoff: { type: "exponential", base: 1, jitter: false }, // BullMQ backoff delay: 1000 ms
    maxTime: 30,
  },
  async (orderId: string, cents: number) => {
    if (cents <= 0) throw new CardDeclinedError("nothing to charge");
    return { orderId, cents, chargedAt: new Date().toISOString() };
  },
);

await app.start({ concurrency: 20 }); // BullMQ: new Worker(..., { concurrency: 20 })
// #endregion app

// #region add
const handle = await charge
  .with({ priority: 10, delay: 5, uuid: "0e8f0b1a-7d43-4c2e-9d7b-1f2a3b4c5d6e" }) // delay in seconds
  .addTask("A-1", 2450); // typed arguments instead of an untyped `data` object
const result = await handle.result({ timeout: 60 }); // BullMQ: job.waitUntilFinished(queueEvents)
console.log(result.chargedAt);
// #endregion add

// #region progress
// BullMQ's job.updateProgress(n) becomes a generator task whose outputs clients stream.
export const importRows = app.task({ name: "import_rows" }, async function* (total: number) {
  for (let done = 100; done <= total; done += 100) yield { done, total };
});
for await (const progress of (await importRows.addTask(1000)).stream()) console.log(progress);
// #endregion progress

// #region events
// BullMQ worker.on("completed" | "failed") becomes app.events in the worker's process.
app.events.on("task:success", (e) => console.log("completed", e.uuid, e.record.returning));
app.events.on("task:error", (e) => console.log("failed", e.uuid, e.record.traceback));
// #endregion events
