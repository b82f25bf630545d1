import { QueueTasks } from "@qtasks/core";
import { imagesRouter } from "./images";

/**
 * The example app. With no options it runs on the in-memory broker and storage, so it needs no
 * services at all.
 */
export const app = new QueueTasks({ name: "example" });

/** A plain async task: its arguments and result are typed end to end. */
export const sendEmail = app.task(
  { name: "send_email", priority: 1, tags: ["mail"], description: "Pretend to send an email" },
  async (to: string, subject: string) => {
    await new Promise((r) => setTimeout(r, 20));
    return { to, subject, accepted: true };
  },
);

/** A task that fails once and is retried. */
let flaky = 0;
export const flakyReport = app.task({ name: "flaky_report", retry: 2 }, async (month: string) => {
  flaky++;
  if (flaky === 1) throw new Error("the reporting database blinked");
  return `report for ${month} (after ${flaky} runs)`;
});

app.includeRouter(imagesRouter);
