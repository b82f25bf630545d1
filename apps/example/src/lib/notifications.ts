import { sharedTask } from "@qtasks/core";

/**
 * A library module: these tasks know no app. `sharedTask` registers them process-wide, and every
 * `QueueTasks` app in the process runs them (QTasks' `shared_task`).
 */
export const sendEmail = sharedTask(
  { name: "send_email", tags: ["mail"], description: "Send a transactional email" },
  async (to: string, subject: string) => {
    await new Promise((r) => setTimeout(r, 10));
    return { to, subject, sentAt: new Date().toISOString() };
  },
);

/** `awaiting: true` is accepted for QTasks parity; shared tasks are always async in Node. */
export const auditLog = sharedTask(
  { name: "audit_log", awaiting: true, priority: -10, tags: ["audit"] },
  (event: string, data: Record<string, unknown>) => ({ event, keys: Object.keys(data).length }),
);
