import type { Broker, Storage } from "@qtasks/core";

/** What a broker factory returns for one test. */
export interface BrokerUnderTest {
  broker: Broker;
  /**
   * Put raw bytes on the queue as a producer would, bypassing `publish` (for malformed-input tests).
   * Optional: the malformed-input tests are reported as not applicable without it.
   */
  injectRaw?(raw: string | Uint8Array, priority: number): Promise<void>;
  /** Remove everything this broker created (keys, queues) and close what the factory opened. */
  cleanup(): Promise<void>;
}

export interface BrokerContractOptions {
  /** Shown in the describe block: `Broker contract: <name>`. */
  name: string;
  /**
   * A fresh, isolated broker (its own key prefix / queue names) with the given lease and delivery
   * limit, not yet started: the suite calls `start` and `stop`.
   */
  create(options: { leaseSeconds: number; deliveryLimit: number }): Promise<BrokerUnderTest>;
  /** Extra milliseconds a delayed envelope may be late (default 50). */
  delayToleranceMs?: number;
}

export interface StorageUnderTest {
  storage: Storage;
  /** A second storage instance on the same backing data (another process' view), for cross-instance
   * notifications. Optional. */
  peer?(): Promise<Storage>;
  cleanup(): Promise<void>;
}

export interface StorageContractOptions {
  name: string;
  /** A fresh, isolated storage (its own prefix / schema), not yet started. */
  create(): Promise<StorageUnderTest>;
}
