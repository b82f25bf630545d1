import BeeQueue from "bee-queue";
import { redisHostPort } from "../env";
import type { Instance, Subject } from "../types";
import { deleteKeys } from "./bullmq";

/** Bee-Queue with its durable settings: succeeded jobs kept (counted), stall detection on
 * (stallInterval default 5 s), producer without events or job map. */
export const beeQueue: Subject = {
  id: "bee-queue",
  label: "Bee-Queue 2.0",
  kind: "peer",
  services: ["redis"],
  settings:
    "bee-queue 2.0.0; job.save / saveAll; process(concurrency); removeOnSuccess false, stall detection on (default 5 s), producer with getEvents/storeJobs off",
  async available() {
    return null;
  },
  async create(tag) {
    const prefix = `bench:${tag}:bq`;
    const redis = redisHostPort();
    const producer = new BeeQueue("noop", {
      prefix,
      redis,
      isWorker: false,
      getEvents: false,
      storeJobs: false,
      sendEvents: false,
      removeOnSuccess: false,
    });
    await producer.ready();
    let worker: BeeQueue | undefined;
    const inst: Instance = {
      async add(i) {
        await producer.createJob({ i }).save();
      },
      async addBulk(items) {
        await producer.saveAll(items.map((i) => producer.createJob({ i })));
      },
      async startWorker(concurrency, onRun) {
        worker = new BeeQueue("noop", {
          prefix,
          redis,
          isWorker: true,
          getEvents: false,
          sendEvents: false,
          removeOnSuccess: false,
        });
        await worker.ready();
        worker.process(concurrency, async (job: BeeQueue.Job<{ i: number }>) => {
          onRun(job.data.i);
        });
      },
      async finalCount() {
        return (await producer.checkHealth()).succeeded;
      },
      async states() {
        return (await producer.checkHealth()) as unknown as Record<string, number>;
      },
      async close() {
        await worker?.close(3000).catch(() => {});
        await producer.destroy().catch(() => {});
        await producer.close(3000).catch(() => {});
        await deleteKeys(`${prefix}:*`);
      },
    };
    return inst;
  },
};
