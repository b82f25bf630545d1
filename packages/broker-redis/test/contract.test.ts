import { describeBrokerContract } from "@qtasks/test-suite";
import { Redis } from "ioredis";
import { afterAll } from "vitest";
import { RedisBroker } from "../src";
import { deletePrefix, globEscape, REDIS_URL, scanKeys, testPrefix } from "./helpers";

const filePrefix = testPrefix("contract");
const admin = new Redis(REDIS_URL);
let n = 0;

afterAll(async () => {
  await deletePrefix(admin, filePrefix);
  admin.disconnect();
});

describeBrokerContract({
  name: "redis",
  async create({ leaseSeconds, deliveryLimit }) {
    const prefix = `${filePrefix}${++n}:{b}:`;
    // A short sweep, so expired leases come back fast in the lease tests.
    const broker = new RedisBroker({
      url: REDIS_URL,
      prefix,
      leaseSeconds,
      deliveryLimit,
      sweepIntervalMs: 200,
    });
    return {
      broker,
      injectRaw: (raw, priority) => broker.injectRaw(raw, priority),
      async cleanup() {
        await deletePrefix(admin, prefix);
        const left = await scanKeys(admin, `${globEscape(prefix)}*`);
        if (left.length > 0) throw new Error(`keys left under ${prefix}: ${left.join(", ")}`);
      },
    };
  },
});
