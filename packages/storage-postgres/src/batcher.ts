/** Options of a `MicroBatcher`. */
export interface BatchOptions {
  /** Most items in one flush (one statement). Default 500. */
  maxSize?: number;
  /**
   * How long the first item of a batch waits for company, in milliseconds. 0 (default): flush on the
   * next turn of the event loop, so a lone call is not delayed and concurrent calls share a statement.
   */
  maxWaitMs?: number;
  /** Flushes running at once (each holds a connection). Default 4. */
  maxInFlight?: number;
  /** Most encoded bytes (approximately) in one statement; a larger single item still goes alone.
   * Default 16 MiB. */
  maxBytes?: number;
}

interface Pending<I, R> {
  item: I;
  key: string | undefined;
  size: number;
  resolve(value: R): void;
  reject(err: unknown): void;
}

/**
 * Coalesces concurrent calls into one `run(items)` per batch. A batch flushes when it is full, or on
 * the next tick (after `maxWaitMs`) when a flush slot is free; while every slot is busy, calls pile
 * up and go out together, so batches grow with load and a quiet system pays no added latency.
 * Items with the same `key` never share a batch (one statement must not touch a row twice).
 * `run` returns one result per item, in order; a thrown error rejects every item of that batch.
 */
export class MicroBatcher<I, R> {
  private readonly queue: Pending<I, R>[] = [];
  private readonly maxSize: number;
  private readonly maxWaitMs: number;
  private readonly maxInFlight: number;
  private readonly maxBytes: number;
  private inFlight = 0;
  private timer: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private readonly idleWaiters: (() => void)[] = [];
  /** Statements run (one per flush). */
  flushes = 0;
  /** Items handed to `run`. */
  items = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<R[]>,
    options: BatchOptions = {},
    private readonly keyOf?: (item: I) => string,
    private readonly sizeOf?: (item: I) => number,
    /** For a failed batch of several items: whether to run each item alone (a data error that only
     * one item may have caused), so that one bad item does not fail its neighbours. */
    private readonly isolate?: (err: unknown) => boolean,
  ) {
    this.maxBytes = Math.max(1, options.maxBytes ?? 16 * 1024 * 1024);
    this.maxSize = Math.max(1, Math.floor(options.maxSize ?? 500));
    this.maxWaitMs = Math.max(0, options.maxWaitMs ?? 0);
    this.maxInFlight = Math.max(1, Math.floor(options.maxInFlight ?? 4));
  }

  push(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, key: this.keyOf?.(item), size: this.sizeOf?.(item) ?? 0, resolve, reject });
      if (this.queue.length >= this.maxSize && this.inFlight < this.maxInFlight) this.flushNow();
      else this.schedule();
    });
  }

  /** Resolves when nothing is queued or running. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.timer || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    const fire = () => {
      this.timer = undefined;
      this.flushNow();
    };
    this.timer = this.maxWaitMs > 0 ? setTimeout(fire, this.maxWaitMs) : setImmediate(fire);
  }

  private flushNow(): void {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.take();
      if (batch.length === 0) break;
      this.inFlight++;
      this.flushes++;
      this.items += batch.length;
      void this.execute(batch);
      // Only start another flush at once if a full batch is waiting; otherwise let it fill.
      if (this.queue.length < this.maxSize) break;
    }
    this.schedule();
  }

  private take(): Pending<I, R>[] {
    const batch: Pending<I, R>[] = [];
    const seen = new Set<string>();
    const rest: Pending<I, R>[] = [];
    let bytes = 0;
    let full = false;
    for (const p of this.queue) {
      if (!full && batch.length > 0 && (batch.length >= this.maxSize || bytes + p.size > this.maxBytes))
        full = true;
      if (!full && (p.key === undefined || !seen.has(p.key))) {
        if (p.key !== undefined) seen.add(p.key);
        batch.push(p);
        bytes += p.size;
      } else {
        rest.push(p);
      }
    }
    this.queue.length = 0;
    this.queue.push(...rest);
    return batch;
  }

  private async execute(batch: Pending<I, R>[]): Promise<void> {
    try {
      const results = await this.run(batch.map((p) => p.item));
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i] as R);
    } catch (err) {
      if (batch.length > 1 && this.isolate?.(err)) {
        await Promise.all(
          batch.map(async (p) => {
            try {
              this.flushes++;
              const [r] = await this.run([p.item]);
              p.resolve(r as R);
            } catch (e) {
              p.reject(e);
            }
          }),
        );
      } else {
        for (const p of batch) p.reject(err);
      }
    } finally {
      this.inFlight--;
      if (this.queue.length > 0) this.flushNow();
      else if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}
