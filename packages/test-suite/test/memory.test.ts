import type {
  BeginResult,
  CancelResult,
  ComponentContext,
  FinalOutcome,
  ListOptions,
  NewTaskRecord,
  Storage,
  StorageEvent,
  TaskEnvelope,
  TaskRecord,
  TaskStatus,
  Unsubscribe,
} from "@qtasks/core";
import { MemoryBroker, MemoryStorage } from "@qtasks/core";
import { describeBrokerContract, describeStorageContract } from "../src/index";

describeBrokerContract({
  name: "MemoryBroker",
  async create({ leaseSeconds, deliveryLimit }) {
    const broker = new MemoryBroker({ leaseSeconds, deliveryLimit });
    return {
      broker,
      injectRaw: async (raw, priority) => broker.injectRaw(raw, priority),
      cleanup: async () => {},
    };
  },
});

/**
 * A second view of one MemoryStorage, as another process would have on a shared storage: it
 * delegates everything, and its `stop` drops only its own subscriptions.
 */
class MemoryStorageView implements Storage {
  readonly name = "memory-view";
  private readonly subs = new Set<Unsubscribe>();

  constructor(private readonly inner: MemoryStorage) {}

  async start(_ctx: ComponentContext): Promise<void> {}
  async stop(): Promise<void> {
    for (const u of this.subs) await u();
    this.subs.clear();
  }
  add(records: NewTaskRecord[]): Promise<void> {
    return this.inner.add(records);
  }
  begin(uuid: string, envelope: TaskEnvelope): Promise<BeginResult> {
    return this.inner.begin(uuid, envelope);
  }
  finish(uuid: string, attempt: number, outcome: FinalOutcome): Promise<boolean> {
    return this.inner.finish(uuid, attempt, outcome);
  }
  get(uuid: string): Promise<TaskRecord | null> {
    return this.inner.get(uuid);
  }
  async subscribe(uuid: string, listener: (event: StorageEvent) => void): Promise<Unsubscribe> {
    const unsub = await this.inner.subscribe(uuid, listener);
    this.subs.add(unsub);
    return async () => {
      this.subs.delete(unsub);
      await unsub();
    };
  }
  appendOutput(uuid: string, attempt: number, value: unknown): Promise<void> {
    return this.inner.appendOutput(uuid, attempt, value);
  }
  getOutputs(uuid: string, from?: number): Promise<unknown[]> {
    return this.inner.getOutputs(uuid, from);
  }
  requestCancel(uuid: string, reason: string): Promise<CancelResult> {
    return this.inner.requestCancel(uuid, reason);
  }
  requeue(uuid: string): Promise<boolean> {
    return this.inner.requeue(uuid);
  }
  list(options?: ListOptions): Promise<TaskRecord[]> {
    return this.inner.list(options);
  }
  count(): Promise<Record<TaskStatus, number>> {
    return this.inner.count();
  }
  purge(options: { olderThanSeconds: number; limit?: number }): Promise<number> {
    return this.inner.purge(options);
  }
}

describeStorageContract({
  name: "MemoryStorage",
  async create() {
    const storage = new MemoryStorage();
    return {
      storage,
      peer: async () => new MemoryStorageView(storage),
      cleanup: async () => {},
    };
  },
});
