import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { REDIS_URL, redisHostPort, sleep } from "../env";
import type { Instance, Subject } from "../types";

/** BullMQ with its documented production settings: completed jobs kept (so they can be counted),
 * default lock/stalled checks, `maxRetriesPerRequest: null` on the worker connection. */
export const bullmq: Subject = {
  id: "bullmq",
  label: "BullMQ 6.7",
  kind: "peer",
  services: ["redis"],
  settings:
    "bullmq 6.7.0; Queue.add / addBulk; Worker(concurrency) with maxRetriesPerRequest null, default lock (30 s) and stalled checks; completed jobs kept",
  async available() {
    return null;
  },
  async create(tag) {
    const prefix = `bench:${tag}:bull`;
    const name = "noop";
    const connection = { ...redisHostPort(), maxRetriesPerRequest: null };
    const queue = new Queue(name, { connection, prefix });
    await queue.waitUntilReady();
    let worker: Worker | undefined;
    const inst: Instance = {
      async add(i) {
        await queue.add("noop", { i });
      },
      async addBulk(items) {
        await queue.addBulk(items.map((i) => ({ name: "noop", data: { i } })));
      },
      async startWorker(concurrency, onRun) {
        worker = new Worker(
          name,
          async (job) => {
            onRun((job.data as { i: number }).i);
          },
          { connection, prefix, concurrency },
        );
        await worker.waitUntilReady();
      },
      async finalCount() {
        return (await queue.getJobCounts("completed")).completed ?? 0;
      },
      async states() {
        return (await queue.getJobCounts()) as Record<string, number>;
      },
      async close() {
        await worker?.close(true).catch(() => {});
        await queue.obliterate({ force: true }).catch(() => {});
        await queue.close().catch(() => {});
        await deleteKeys(`${prefix}:*`);
      },
    };
    return inst;
  },
};

/** SCAN + UNLINK every key under a pattern (whatever the library left). */
export async function deleteKeys(pattern: string): Promise<void> {
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      if (keys.length) await r.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    await r.quit().catch(() => r.disconnect());
    await sleep(0);
  }
}
