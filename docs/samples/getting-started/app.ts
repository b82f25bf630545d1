// app.ts: the app, imported by the worker and by the clients. They share a broker and a storage
// (Redis here: REDIS_URL, else redis://127.0.0.1:6379).
import { RedisBroker } from "@qtasks/broker-redis";
import { QueueTasks } from "@qtasks/core";
import { RedisGlobalConfig, RedisStorage } from "@qtasks/storage-redis";

export const app = new QueueTasks({
  name: "shop",
  broker: new RedisBroker(),
  storage: new RedisStorage(),
  globalConfig: new RedisGlobalConfig(),
  config: { maxTasksProcess: 20, shutdownTimeout: 25 },
});

export const thumbnail = app.task({ name: "thumbnail" }, async (url: string) => {
  return { url, width: 128 };
});

// `node --import tsx app.ts worker` runs a worker until SIGTERM or SIGINT, then stops gracefully.
if (process.argv[2] === "worker") await app.runForever();
