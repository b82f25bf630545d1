import { sleep } from "../env";

/**
 * The consumer loop the bare-client limits share: claim up to `prefetch` messages ahead (in one
 * round trip when the client allows), run at most `concurrency` handlers at once, and finish the
 * handled ones in batches (one round trip for everything that finished while the previous batch
 * was in flight). That is the least work an at-least-once consumer can do per task.
 */
export interface ConsumeOptions<T> {
  concurrency: number;
  prefetch: number;
  /** Claims up to `max` messages; may wait a little when the queue is empty; [] when none. */
  claim?: (max: number) => Promise<T[]>;
  finish: (items: T[]) => Promise<void>;
  run: (item: T) => void;
}

export class Consumer<T> {
  private readonly buffer: T[] = [];
  private readonly toFinish: T[] = [];
  private held = 0;
  private running = 0;
  private finishing = false;
  private stopped = false;
  private wakeClaimer: (() => void) | undefined;
  private claimLoop: Promise<void> | undefined;

  constructor(private readonly o: ConsumeOptions<T>) {}

  start(): void {
    if (this.o.claim) this.claimLoop = this.claimForever();
  }

  /** For push-based clients: a delivered message enters the local buffer. */
  push(item: T): void {
    this.held++;
    this.buffer.push(item);
    this.pump();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeClaimer?.();
    await Promise.race([this.claimLoop, sleep(2000)]);
  }

  private async claimForever(): Promise<void> {
    while (!this.stopped) {
      const free = this.o.prefetch - this.held;
      if (free <= 0) {
        await new Promise<void>((r) => (this.wakeClaimer = r));
        this.wakeClaimer = undefined;
        continue;
      }
      let items: T[] = [];
      try {
        items = await this.o.claim!(free);
      } catch {
        await sleep(50);
      }
      for (const item of items) this.push(item);
    }
  }

  private pump(): void {
    while (this.running < this.o.concurrency && this.buffer.length > 0) {
      const item = this.buffer.shift()!;
      this.running++;
      void this.handle(item);
    }
  }

  private async handle(item: T): Promise<void> {
    // The no-op async handler.
    this.o.run(item);
    await Promise.resolve();
    this.running--;
    this.toFinish.push(item);
    void this.flush();
    this.pump();
  }

  private async flush(): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    try {
      while (this.toFinish.length > 0) {
        const batch = this.toFinish.splice(0, this.toFinish.length);
        await this.o.finish(batch).catch(() => {});
        this.held -= batch.length;
        this.wakeClaimer?.();
      }
    } finally {
      this.finishing = false;
    }
  }
}
