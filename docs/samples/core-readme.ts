import { QueueTasks, TaskFailedError } from "@qtasks/core";

// #region usage
const app = new QueueTasks({ name: "shop", config: { maxTasksProcess: 20 } });

export const sendReceipt = app.task(
  { name: "send_receipt", retry: 3, retryBackoff: { type: "fixed", delay: 5 }, maxTime: 30 },
  async (orderId: string, email: string) => ({ orderId, email, sent: true }),
);

await app.start(); // connects, and runs a worker in this process

const handle = await sendReceipt.addTask("A-1", "ada@example.com");
try {
  console.log(await handle.result({ timeout: 60 })); // { orderId: "A-1", email: "...", sent: true }
} catch (error) {
  if (error instanceof TaskFailedError) console.error(error.record.traceback);
}
await app.stop();
// #endregion usage
