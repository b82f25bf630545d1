import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStorage, type Plugin, type TaskRecord } from "@qtasks/core";
import { describeBrokerContract, describeStorageContract } from "@qtasks/test-suite";
import { JournalBroker } from "../../examples/broker-journal/src/index";

// #region plugin
/** A plugin package exports a factory: options in, a `Plugin` out. */
export function slowTaskAlerts(options: { thresholdMs: number; alert(record: TaskRecord): void }): Plugin {
  return {
    name: "slow-task-alerts",
    onTaskFinish({ record }) {
      const ms = (record.finishedAt?.getTime() ?? 0) - (record.startedAt?.getTime() ?? 0);
      if (ms > options.thresholdMs) options.alert(record);
    },
  };
}
// #endregion plugin

// #region broker-test
// test/contract.test.ts of a broker package: one call registers every contract test.
describeBrokerContract({
  name: "JournalBroker",
  async create({ leaseSeconds, deliveryLimit }) {
    const dir = mkdtempSync(join(tmpdir(), "journal-broker-"));
    const broker = new JournalBroker({ path: join(dir, "queue.jsonl"), leaseSeconds, deliveryLimit });
    return {
      broker,
      injectRaw: (raw, priority) => broker.injectRaw(raw, priority), // optional: malformed-input tests
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});
// #endregion broker-test

// #region storage-test
// test/contract.test.ts of a storage package.
describeStorageContract({
  name: "MemoryStorage",
  async create() {
    return { storage: new MemoryStorage(), cleanup: async () => {} };
  },
});
// #endregion storage-test
