import type {
  Broker,
  BrokerStats,
  ClaimOptions,
  DeadLetter,
  Delivery,
  PublishMessage,
} from "../contracts/broker";
import type { ComponentContext } from "../contracts/component";
import type { Logger } from "../contracts/logger";
import { decodeEnvelope, encodeEnvelope } from "../envelope";
import { MalformedMessageError, NotStartedError } from "../errors";
import { silentLogger } from "../logger";
import { validateSeconds } from "../validation";

export interface MemoryBrokerOptions {
  /** Seconds a claim stays leased without renewal. Default 30. */
  leaseSeconds?: number;
  /** Claims after which the worker dead-letters a task. Default 5. */
  deliveryLimit?: number;
}

interface Entry {
  /** The envelope as JSON text (or raw bytes from `injectRaw`): what crosses the "wire", so nothing
   * is shared by reference. */
  raw: string | Uint8Array;
  priority: number;
  uuid: string;
  deliveries: number;
  seq: number;
}

interface InFlight {
  entry: Entry;
  timer: NodeJS.Timeout;
}

/**
 * The embedded broker: everything in this process, for development, tests and single-process apps.
 * It implements the full contract for real: priority order, FIFO within a priority, delays, leases
 * that expire and redeliver, delivery counts, dead letters. Nothing survives the process.
 */
export class MemoryBroker implements Broker {
  readonly name: string = "memory";
  readonly leaseSeconds: number;
  readonly deliveryLimit: number;

  // Ready queues by priority, and the priorities present, highest first.
  private readonly ready = new Map<number, Entry[]>();
  private readonly readyHeads = new Map<number, number>();
  private priorities: number[] = [];
  private readyCount = 0;
  private readonly delayed: { at: number; entry: Entry }[] = [];
  private delayTimer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Map<string, InFlight>();
  private readonly dead: (DeadLetter & { entry?: Entry })[] = [];
  private waiters: (() => void)[] = [];
  private seq = 0;
  private tokenSeq = 0;
  private started = false;
  private logger: Logger = silentLogger;

  constructor(options: MemoryBrokerOptions = {}) {
    this.leaseSeconds = validateSeconds(options.leaseSeconds ?? 30, "leaseSeconds");
    this.deliveryLimit = options.deliveryLimit ?? 5;
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.logger = ctx.logger.child({ component: "broker", broker: this.name });
    this.started = true;
  }

  async stop(): Promise<void> {
    this.started = false;
    this.wake();
  }

  async publish(messages: PublishMessage[]): Promise<void> {
    const now = Date.now();
    // Validate and encode everything first: a bad message rejects the whole call, publishing nothing.
    const prepared = messages.map((m) => ({
      delay: m.delay ? validateSeconds(m.delay, "delay") : 0,
      raw: encodeEnvelope(m.envelope),
      envelope: m.envelope,
    }));
    for (const m of prepared) {
      const entry: Entry = {
        raw: m.raw,
        priority: m.envelope.priority,
        uuid: m.envelope.uuid,
        deliveries: 0,
        seq: this.seq++,
      };
      if (m.delay > 0) this.addDelayed(now + m.delay * 1000, entry);
      else this.pushReady(entry);
    }
    this.wake();
  }

  /**
   * Puts raw text (or bytes, which may be invalid UTF-8) on the queue as if a producer had sent it:
   * for tests of malformed input. It is decoded at claim like every other message.
   */
  injectRaw(raw: string | Uint8Array, priority = 0): void {
    const copy = typeof raw === "string" ? raw : Uint8Array.from(raw);
    this.pushReady({ raw: copy, priority, uuid: "", deliveries: 0, seq: this.seq++ });
    this.wake();
  }

  async claim(max: number, options: ClaimOptions): Promise<Delivery[]> {
    if (!this.started) throw new NotStartedError("MemoryBroker.claim before start()");
    const deadline = Date.now() + options.waitSeconds * 1000;
    for (;;) {
      const out = this.take(max);
      if (out.length > 0) return out;
      const left = deadline - Date.now();
      if (left <= 0 || options.signal?.aborted || !this.started) return [];
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          options.signal?.removeEventListener("abort", done);
          this.waiters = this.waiters.filter((w) => w !== done);
          resolve();
        };
        const t = setTimeout(done, left);
        options.signal?.addEventListener("abort", done, { once: true });
        this.waiters.push(done);
      });
    }
  }

  async extendLease(delivery: Delivery): Promise<boolean> {
    const f = this.inFlight.get(delivery.token);
    if (!f) return false;
    f.timer.refresh();
    return true;
  }

  async ack(delivery: Delivery): Promise<boolean> {
    const f = this.inFlight.get(delivery.token);
    if (!f) return false;
    clearTimeout(f.timer);
    this.inFlight.delete(delivery.token);
    return true;
  }

  async release(delivery: Delivery, options?: { delay?: number }): Promise<boolean> {
    const f = this.inFlight.get(delivery.token);
    if (!f) return false;
    clearTimeout(f.timer);
    this.inFlight.delete(delivery.token);
    const delay = options?.delay ? validateSeconds(options.delay, "delay") : 0;
    if (delay > 0) this.addDelayed(Date.now() + delay * 1000, f.entry);
    else this.pushReady(f.entry, true);
    this.wake();
    return true;
  }

  async deadLetter(delivery: Delivery, reason: string): Promise<boolean> {
    const f = this.inFlight.get(delivery.token);
    if (!f) return false;
    clearTimeout(f.timer);
    this.inFlight.delete(delivery.token);
    this.dead.push({
      id: f.entry.uuid,
      envelope: delivery.envelope,
      reason,
      deadLetteredAt: new Date(),
      entry: f.entry,
    });
    return true;
  }

  async listDeadLetters(options?: { limit?: number }): Promise<DeadLetter[]> {
    return this.dead
      .slice(0, options?.limit ?? 100)
      .map(({ entry: _e, ...d }) => structuredClone(d) as DeadLetter);
  }

  async redriveDeadLetters(ids?: string[]): Promise<number> {
    const wanted = ids ? new Set(ids) : undefined;
    let n = 0;
    for (let i = 0; i < this.dead.length; ) {
      const d = this.dead[i]!;
      if (d.entry && d.envelope && (!wanted || wanted.has(d.id))) {
        this.dead.splice(i, 1);
        this.pushReady({ ...d.entry, deliveries: 0, seq: this.seq++ });
        n++;
      } else i++;
    }
    if (n > 0) this.wake();
    return n;
  }

  async stats(): Promise<BrokerStats> {
    const ready: Record<number, number> = {};
    for (const p of this.priorities) {
      const q = this.ready.get(p)!;
      const len = q.length - (this.readyHeads.get(p) ?? 0);
      if (len > 0) ready[p] = len;
    }
    return {
      ready,
      delayed: this.delayed.length,
      inFlight: this.inFlight.size,
      deadLetters: this.dead.length,
    };
  }

  // --- internals ---------------------------------------------------------------------------------

  private take(max: number): Delivery[] {
    const out: Delivery[] = [];
    while (out.length < max && this.readyCount > 0) {
      const entry = this.popReady();
      if (!entry) break;
      entry.deliveries++;
      let envelope: ReturnType<typeof decodeEnvelope>;
      try {
        envelope = decodeEnvelope(entry.raw);
      } catch (error) {
        const reason = error instanceof MalformedMessageError ? error.message : "malformed";
        this.logger.warn("dead-lettered a malformed message", { reason });
        this.dead.push({
          id: `malformed-${entry.seq}`,
          raw: rawText(entry.raw),
          reason: "malformed",
          deadLetteredAt: new Date(),
        });
        continue;
      }
      const token = `${entry.uuid}#${++this.tokenSeq}`;
      const timer = setTimeout(() => this.expire(token), this.leaseSeconds * 1000);
      timer.unref();
      this.inFlight.set(token, { entry, timer });
      out.push({ envelope, deliveryCount: entry.deliveries, token });
    }
    return out;
  }

  private expire(token: string): void {
    const f = this.inFlight.get(token);
    if (!f) return;
    this.inFlight.delete(token);
    this.logger.warn("lease expired; the task is deliverable again", { uuid: f.entry.uuid });
    this.pushReady(f.entry, true);
    this.wake();
  }

  private pushReady(entry: Entry, front = false): void {
    let q = this.ready.get(entry.priority);
    if (!q) {
      q = [];
      this.ready.set(entry.priority, q);
      this.readyHeads.set(entry.priority, 0);
      this.priorities.push(entry.priority);
      this.priorities.sort((a, b) => b - a);
    }
    if (front) {
      // A released or expired envelope keeps its place ahead of newer ones of its priority.
      const head = this.readyHeads.get(entry.priority)!;
      if (head > 0) {
        q[head - 1] = entry;
        this.readyHeads.set(entry.priority, head - 1);
      } else q.unshift(entry);
    } else q.push(entry);
    this.readyCount++;
  }

  private popReady(): Entry | undefined {
    for (const p of this.priorities) {
      const q = this.ready.get(p)!;
      const head = this.readyHeads.get(p)!;
      if (head < q.length) {
        const entry = q[head]!;
        // Compact now and then instead of shifting on every pop.
        if (head + 1 >= 1024 && head + 1 >= q.length / 2) {
          q.splice(0, head + 1);
          this.readyHeads.set(p, 0);
        } else this.readyHeads.set(p, head + 1);
        this.readyCount--;
        return entry;
      }
    }
    return undefined;
  }

  private addDelayed(at: number, entry: Entry): void {
    // Sorted insert (binary search); stable for equal times so FIFO holds.
    let lo = 0;
    let hi = this.delayed.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.delayed[mid]!.at <= at) lo = mid + 1;
      else hi = mid;
    }
    this.delayed.splice(lo, 0, { at, entry });
    if (lo === 0) this.armDelayTimer();
  }

  private armDelayTimer(): void {
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    const first = this.delayed[0];
    if (!first) return;
    this.delayTimer = setTimeout(() => this.promoteDue(), Math.max(0, first.at - Date.now()));
    this.delayTimer.unref();
  }

  private promoteDue(): void {
    const now = Date.now();
    let moved = 0;
    while (this.delayed.length > 0 && this.delayed[0]!.at <= now) {
      this.pushReady(this.delayed.shift()!.entry);
      moved++;
    }
    this.armDelayTimer();
    if (moved > 0) this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }
}

/** At most the first KiB (UTF-8 bytes) of a malformed message, as text (invalid bytes become U+FFFD). */
function rawText(raw: string | Uint8Array): string {
  let text = typeof raw === "string" ? raw : new TextDecoder().decode(raw.subarray(0, 1024));
  if (text.length > 1024) text = text.slice(0, 1024);
  while (Buffer.byteLength(text, "utf8") > 1024) text = text.slice(0, -1);
  return text;
}
