import { Redis } from "ioredis";
import { REDIS_URL } from "../env";
import type { Instance, Subject } from "../types";
import { Consumer } from "./consume";

/**
 * The Redis limit: the least an at-least-once queue costs without Lua. Enqueue is one LPUSH (bulk:
 * one pipeline per chunk). A worker claims with LMOVE ready -> processing, pipelined up to the
 * 500-task window (BLMOVE when the queue is empty), so a crash leaves the message in `processing`;
 * a batch of finished tasks costs one MULTI {LREM processing, HSET done} per task, in one round trip.
 */
export const redisLimit: Subject = {
  id: "limit-redis",
  label: "limit: bare ioredis",
  kind: "limit",
  services: ["redis"],
  settings:
    "ioredis 6; LPUSH per task (bulk: one pipeline per chunk); claims = pipelined LMOVE ready->processing up to 500 ahead (BLMOVE when empty); finishes = one pipelined MULTI{LREM, HSET} per batch",
  async available() {
    return null;
  },
  async create(tag) {
    const base = `bench:${tag}:`;
    const ready = `${base}ready`;
    const proc = `${base}processing`;
    const done = `${base}done`;
    const main = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
    const blocking = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    let consumer: Consumer<string> | undefined;
    const inst: Instance = {
      async add(i) {
        await main.lpush(ready, JSON.stringify({ i }));
      },
      async addBulk(items) {
        const p = main.pipeline();
        for (const i of items) p.lpush(ready, JSON.stringify({ i }));
        const res = await p.exec();
        for (const [err] of res ?? []) if (err) throw err;
      },
      async startWorker(concurrency, onRun) {
        consumer = new Consumer<string>({
          concurrency,
          prefetch: 500,
          claim: async (max) => {
            const p = main.pipeline();
            // At most 100 per round trip: past the end of the list each LMOVE is a wasted nil.
            for (let k = 0; k < Math.min(max, 100); k++) p.lmove(ready, proc, "RIGHT", "LEFT");
            const got = ((await p.exec()) ?? []).map(([, v]) => v as string | null).filter((v) => v !== null);
            if (got.length > 0) return got;
            const one = await blocking.blmove(ready, proc, "RIGHT", "LEFT", 0.2);
            return one === null ? [] : [one];
          },
          finish: async (msgs) => {
            const m = main.multi();
            for (const msg of msgs) m.lrem(proc, -1, msg).hset(done, String(JSON.parse(msg).i), "1");
            await m.exec();
          },
          run: (msg) => onRun((JSON.parse(msg) as { i: number }).i),
        });
        consumer.start();
      },
      async finalCount() {
        return main.hlen(done);
      },
      async states() {
        const [w, p, d] = await Promise.all([main.llen(ready), main.llen(proc), main.hlen(done)]);
        return { waiting: w, processing: p, done: d };
      },
      async close() {
        await consumer?.stop();
        blocking.disconnect();
        await main.del(ready, proc, done).catch(() => {});
        await main.quit().catch(() => main.disconnect());
      },
    };
    return inst;
  },
};
