import { QueueTasks, sharedTask } from "@qtasks/core";
import { AsyncRouter, SyncRouter } from "@qtasks/router";

// #region router
// billing/tasks.ts: a module that knows no app.
export const billing = new AsyncRouter({ name: "billing" });

export const charge = billing.task({ name: "charge", retry: 2 }, async (orderId: string, cents: number) => ({
  orderId,
  cents,
}));

// A SyncRouter's tasks are SyncTasks (synchronous handlers, QTasks parity).
export const checksums = new SyncRouter({ name: "checksums" });
export const crc = checksums.task({ name: "crc" }, (text: string) => text.length % 256);
// #endregion router

// #region shared
// mail-lib/index.ts: a library. Every QueueTasks app in the process runs shared tasks.
export const sendMail = sharedTask(
  { name: "send_mail", tags: ["mail"] },
  async (to: string, body: string) => ({
    to,
    length: body.length,
  }),
);
// #endregion shared

// #region include
// app.ts
const app = new QueueTasks({ name: "shop" });
app.includeRouter(billing); // a name clash throws DuplicateTaskError naming both
app.includeRouter(checksums);

await charge.addTask("A-1", 2450); // router tasks enqueue on the app that included them
await sendMail.addTask("ada@example.com", "hello"); // the one app in this process

// With several apps in one process, name the app:
const other = new QueueTasks({ name: "other" });
await sendMail.with({ app: other }).addTask("bob@example.com", "hi");
// #endregion include
