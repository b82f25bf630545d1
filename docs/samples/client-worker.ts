import { QueueTasks } from "@qtasks/core";

// #region worker
// worker.ts: runs until SIGTERM/SIGINT, then stops gracefully (config.shutdownTimeout).
export const app = new QueueTasks({ name: "shop", config: { maxTasksProcess: 20, shutdownTimeout: 25 } });
export const thumbnail = app.task({ name: "thumbnail" }, async (url: string) => ({ url }));

if (process.argv[2] === "worker") await app.runForever();
// #endregion worker

// #region client
// web.ts: a client only. It enqueues and waits; it never runs tasks.
await app.start({ worker: false });
const handle = await thumbnail.addTask("https://example.com/cat.png");
console.log(await handle.result({ timeout: 30 }));
await app.stop();
// #endregion client
