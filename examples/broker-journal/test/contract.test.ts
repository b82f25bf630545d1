import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeBrokerContract } from "@qtasks/test-suite";
import { JournalBroker } from "../src/index";

// The shared contract every qtasks broker must pass: priorities, FIFO, delays, leases, delivery
// counts, stale deliveries, dead letters, malformed input, stats.
describeBrokerContract({
  name: "JournalBroker",
  async create({ leaseSeconds, deliveryLimit }) {
    const dir = mkdtempSync(join(tmpdir(), "journal-broker-"));
    const broker = new JournalBroker({ path: join(dir, "queue.jsonl"), leaseSeconds, deliveryLimit });
    return {
      broker,
      injectRaw: (raw, priority) => broker.injectRaw(raw, priority),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});
