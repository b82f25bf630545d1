import { RedisBroker } from "@qtasks/broker-redis";
import { QueueTasks } from "@qtasks/core";
import { RedisGlobalConfig, RedisStorage } from "@qtasks/storage-redis";

// #region worker
// app.ts, imported by the worker and by the clients: a broker and a storage they share.
export const app = new QueueTasks({
  name: "shop",
  broker: new RedisBroker(), // REDIS_URL, else redis://127.0.0.1:6379
  storage: new RedisStorage(),
  globalConfig: new RedisGlobalConfig(),
  config: { maxTasksProcess: 20, shutdownTimeout: 25 },
});
export const thumbnail = app.task({ name: "thumbnail" }, async (url: string) => ({ url }));

// The worker process: runs until SIGTERM/SIGINT, then stops gracefully (config.shutdownTimeout).
// Or, without this line: `npx qtasks run --app ./app.ts#app`.
if (process.argv[2] === "worker") await app.runForever();
// #endregion worker

// #region client
// web.ts: a client only. It enqueues and waits; it never runs tasks.
await app.start({ worker: false });
const handle = await thumbnail.addTask("https://example.com/cat.png");
console.log(await handle.result({ timeout: 30 }));
await app.stop();
// #endregion client
