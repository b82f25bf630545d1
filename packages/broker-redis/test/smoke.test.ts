import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { brokerFactory, deletePrefix, envelope, REDIS_URL, testPrefix } from "./helpers";

const prefix = testPrefix("smoke");
const redis = new Redis(REDIS_URL);
const f = brokerFactory(prefix);
afterAll(async () => {
  await f.stopAll();
  await deletePrefix(redis, prefix);
  redis.disconnect();
});

describe("smoke", () => {
  it("publishes, claims, acks", async () => {
    const b = await f.make();
    const e = envelope("t", 3);
    await b.publish([{ envelope: e }]);
    expect((await b.stats()).ready).toEqual({ 3: 1 });
    const [d] = await b.claim(10, { waitSeconds: 1 });
    expect(d?.envelope).toEqual(e);
    expect(d?.deliveryCount).toBe(1);
    expect(await b.ack(d!)).toBe(true);
    expect(await b.ack(d!)).toBe(false);
    const s = await b.stats();
    expect(s).toEqual({ ready: {}, delayed: 0, inFlight: 0, deadLetters: 0 });
  });
});
