import { describeStorageContract } from "@qtasks/test-suite";
import { RedisStorage } from "../src/index";
import { deletePrefix, REDIS_URL, randomPrefix } from "./helpers";

describeStorageContract({
  name: "RedisStorage",
  async create() {
    // A fresh prefix per test; the peer is a second instance (own connections) on the same keys.
    const prefix = randomPrefix("contract");
    return {
      storage: new RedisStorage({ url: REDIS_URL, prefix }),
      peer: async () => new RedisStorage({ url: REDIS_URL, prefix }),
      cleanup: () => deletePrefix(prefix),
    };
  },
});

describeStorageContract({
  name: "RedisStorage with retention",
  async create() {
    const prefix = randomPrefix("contract-retention");
    return {
      storage: new RedisStorage({ url: REDIS_URL, prefix, retentionSeconds: 3600 }),
      peer: async () => new RedisStorage({ url: REDIS_URL, prefix, retentionSeconds: 3600 }),
      cleanup: () => deletePrefix(prefix),
    };
  },
});
