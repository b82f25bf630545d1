import { QueueTasks } from "@qtasks/core";
import { AsyncRouter } from "@qtasks/router";

// #region usage
// images/tasks.ts
export const images = new AsyncRouter({ name: "images" });

export const resize = images.task({ name: "resize", retry: 2 }, async (url: string, width: number) => ({
  url,
  width,
}));

// app.ts
export const app = new QueueTasks({ name: "shop" });
app.includeRouter(images); // a name clash throws DuplicateTaskError

await resize.addTask("https://example.com/a.png", 200); // enqueues on the app that included it
// #endregion usage
