import type { Broker, Storage } from "@qtasks/core";

/** What a broker factory returns for one test. */
export interface BrokerUnderTest {
  broker: Broker;
  /**
   * Put raw bytes on the queue as a producer would, bypassing `publish` (for malformed-input tests).
   * Bytes may be invalid UTF-8 and must reach the consumer unchanged.
   * Optional: without it the malformed-input tests are reported as skipped ("not applicable").
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
   * limit, not yet started: the suite calls `start` (with a random `appName`) and `stop`, then
   * `cleanup`. Called once per test.
   */
  create(options: { leaseSeconds: number; deliveryLimit: number }): Promise<BrokerUnderTest>;
  /**
   * Extra milliseconds a delayed envelope (or an expired lease) may be late, for brokers that
   * promote delayed messages by a periodic sweep (default 50). The suite adds a fixed 1000 ms
   * allowance for a loaded machine on top of it.
   */
  delayToleranceMs?: number;
}

export interface StorageUnderTest {
  storage: Storage;
  /** A second storage instance on the same backing data (another process' view), for cross-instance
   * notifications, not yet started (the suite starts it with the same `appName` and stops it).
   * Optional: without it the cross-instance test is reported as skipped. */
  peer?(): Promise<Storage>;
  cleanup(): Promise<void>;
}

export interface StorageContractOptions {
  name: string;
  /** A fresh, isolated storage (its own prefix / schema), not yet started: the suite calls `start`
   * (with a random `appName`) and `stop`, then `cleanup`. Called once per test. */
  create(): Promise<StorageUnderTest>;
}
