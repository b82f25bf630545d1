import type { TaskRecord } from "./contracts/record";
import { isFinalStatus } from "./contracts/record";
import type { CancelResult, Storage, StorageEvent } from "./contracts/storage";
import { TaskFailedError, WaitTimeoutError } from "./errors";

/** Options of `handle.wait()` and `handle.result()`. */
export interface WaitOptions {
  /** Seconds to wait; past it `WaitTimeoutError`. Default: the per-call `timeout`, else the app's
   * `defaultWaitTimeout`, else no limit. */
  timeout?: number;
  signal?: AbortSignal;
}

/** Hooks a worker gives handles created inside a running task, to free its slot while it waits. */
export interface WaitHooks {
  enter(): void;
  exit(): void;
}

/**
 * What `addTask` returns: the uuid at once, and ways to wait for the outcome. Waiting is driven by
 * Storage notifications, never by polling. Retries are followed: waiting on the first uuid yields
 * the outcome of the last attempt.
 */
export class TaskHandle<R = unknown> {
  constructor(
    readonly uuid: string,
    readonly taskName: string,
    private readonly storage: Storage,
    private readonly defaultTimeout: number | undefined,
    private readonly hooks?: WaitHooks,
  ) {}

  /** The current record (no waiting), or `null`. */
  get(): Promise<TaskRecord | null> {
    return this.storage.get(this.uuid);
  }

  /**
   * The final record (`success`, `error` or `cancel`), following retries. Rejects with
   * `WaitTimeoutError` past the timeout; never resolves to a silent null.
   */
  async wait(options: WaitOptions = {}): Promise<TaskRecord> {
    const timeout = options.timeout ?? this.defaultTimeout;
    const deadline = timeout === undefined ? undefined : Date.now() + timeout * 1000;
    this.hooks?.enter();
    try {
      let uuid = this.uuid;
      for (;;) {
        const record = await waitForFinal(this.storage, uuid, deadline, timeout, options.signal, this.uuid);
        if (record.status === "retry" && record.retryUuid) {
          uuid = record.retryUuid;
          continue;
        }
        return record;
      }
    } finally {
      this.hooks?.exit();
    }
  }

  /** The task's result, typed as the handler's. A task that ended `error` or `cancel` rejects with
   * `TaskFailedError` (the record is attached). */
  async result(options: WaitOptions = {}): Promise<R> {
    const record = await this.wait(options);
    if (record.status === "success") return record.returning as R;
    throw new TaskFailedError(record);
  }

  /**
   * The outputs of a generator task as they are produced, across retries; ends when the task ends.
   * Outputs already produced before the call are yielded first.
   */
  stream(options: WaitOptions = {}): AsyncIterable<unknown> {
    const storage = this.storage;
    const first = this.uuid;
    const timeout = options.timeout ?? this.defaultTimeout;
    return {
      [Symbol.asyncIterator]: () => streamOutputs(storage, first, timeout, options.signal),
    };
  }

  /** Ask the task to stop (see `CancelResult`). */
  cancel(reason = "cancelled by client"): Promise<CancelResult> {
    return this.storage.requestCancel(this.uuid, reason);
  }
}

/** Waits for one record to become final (including `retry`). */
export function waitForFinal(
  storage: Storage,
  uuid: string,
  deadline: number | undefined,
  timeout: number | undefined,
  signal: AbortSignal | undefined,
  reportUuid = uuid,
): Promise<TaskRecord> {
  return new Promise<TaskRecord>((resolve, reject) => {
    let settled = false;
    let unsubscribe: (() => Promise<void>) | undefined;
    let checking = false;
    let again = false;
    let lastStatus: string | undefined;
    let timer: NodeJS.Timeout | undefined;

    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      unsubscribe?.().catch(() => {});
      fn();
    };
    const onAbort = () => finish(() => reject(signal?.reason ?? new Error("aborted")));
    const check = async () => {
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      try {
        do {
          again = false;
          const record = await storage.get(uuid);
          if (settled) return;
          if (record) {
            lastStatus = record.status;
            if (isFinalStatus(record.status)) {
              finish(() => resolve(record));
              return;
            }
          }
        } while (again && !settled);
      } catch (error) {
        finish(() => reject(error));
      } finally {
        checking = false;
      }
    };

    if (deadline !== undefined) {
      timer = setTimeout(
        () => finish(() => reject(new WaitTimeoutError(reportUuid, timeout ?? 0, lastStatus))),
        Math.max(0, deadline - Date.now()),
      );
    }
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    storage
      .subscribe(uuid, (event: StorageEvent) => {
        if (event.kind !== "output") void check();
      })
      .then((unsub) => {
        if (settled) {
          unsub().catch(() => {});
          return;
        }
        unsubscribe = unsub;
        // Read after subscribing: a final write between the two is seen either way.
        void check();
      })
      .catch((error) => finish(() => reject(error)));
  });
}

async function* streamOutputs(
  storage: Storage,
  first: string,
  timeout: number | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<unknown> {
  const deadline = timeout === undefined ? undefined : Date.now() + timeout * 1000;
  let uuid = first;
  for (;;) {
    let index = 0;
    let wake: (() => void) | undefined;
    let pending = true;
    const unsub = await storage.subscribe(uuid, () => {
      pending = true;
      wake?.();
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      for (;;) {
        if (signal?.aborted) throw signal.reason ?? new Error("aborted");
        if (!pending) {
          await new Promise<void>((resolve, reject) => {
            wake = resolve;
            if (deadline !== undefined) {
              timer = setTimeout(
                () => reject(new WaitTimeoutError(first, timeout ?? 0)),
                Math.max(0, deadline - Date.now()),
              );
            }
            signal?.addEventListener("abort", () => resolve(), { once: true });
          });
          if (timer) clearTimeout(timer);
          wake = undefined;
        }
        pending = false;
        // Record first, outputs second: outputs written before a final status are never missed.
        const record = await storage.get(uuid);
        const outputs = await storage.getOutputs(uuid, index);
        for (const o of outputs) {
          index++;
          yield o;
        }
        if (record && isFinalStatus(record.status)) {
          if (record.status === "retry" && record.retryUuid) {
            uuid = record.retryUuid;
            break;
          }
          return;
        }
      }
    } finally {
      if (timer) clearTimeout(timer);
      await unsub();
    }
  }
}
