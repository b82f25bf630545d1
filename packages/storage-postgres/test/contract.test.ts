import { describeStorageContract } from "@qtasks/test-suite";
import type { PostgresStorage } from "../src/index";
import { dropSchema, makeStorage, randomSchema } from "./helpers";

// Every test gets a fresh schema (dropped afterwards); `peer` is a second storage on that schema,
// as another process would have.
describeStorageContract({
  name: "PostgresStorage",
  async create() {
    const schema = randomSchema("qt_contract");
    const peers: PostgresStorage[] = [];
    return {
      storage: makeStorage(schema),
      peer: async () => {
        const p = makeStorage(schema);
        peers.push(p);
        return p;
      },
      cleanup: async () => {
        await Promise.all(peers.map((p) => p.stop()));
        await dropSchema(schema);
      },
    };
  },
});
