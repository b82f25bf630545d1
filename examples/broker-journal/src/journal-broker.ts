import { mkdir, open, readFile, rename } from "node:fs/promises";
import { dirname } from "node:path";
import {
  type Broker,
  type BrokerStats,
  type ClaimOptions,
  type ComponentContext,
  type DeadLetter,
  type Delivery,
  decodeEnvelope,
  encodeEnvelope,
  InvalidOptionError,
  type Logger,
  MalformedMessageError,
  NotStartedError,
  type PublishMessage,
  QTasksError,
  silentLogger,
  type TaskEnvelope,
  validateSeconds,
} from "@qtasks/core";

export interface JournalBrokerOptions {
  /** The journal file. One process owns it at a time. */
  path: string;
  /** Seconds a claim stays leased without renewal. Default 30. */
  leaseSeconds?: number;
  /** Claims after which the worker dead-letters a task. Default 5. */
  deliveryLimit?: number;
  /** `fsync` after every write: survives a power cut, not only a crash. Default false. */
  fsync?: boolean;
}

/** One queued message. `id` never changes; `order` is its place within its priority (FIFO). */
interface Entry {
  id: number;
  order: number;
  raw: string | Uint8Array;
  priority: number;
  uuid: string;
  deliveries: number;
  state: "ready" | "inflight" | "dead";
  readyAt: number;
  token?: string;
  leaseUntil?: number;
  envelope?: TaskEnvelope;
  reason?: string;
  deadAt?: number;
}

/** What the journal records: every change, in order. Replaying it rebuilds the queues. */
type Op =
  | { op: "pub"; id: number; raw?: string; b64?: string; priority: number; uuid: string; readyAt: number }
  | { op: "claim"; id: number }
  | { op: "ack"; id: number }
  | { op: "release"; id: number; readyAt: number }
  | { op: "dead"; id: number; reason: string; at: number }
  | { op: "redrive"; id: number; order: number };

/** Thrown when the journal cannot be written: the operation did not happen. */
export class JournalWriteError extends QTasksError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ACME_JOURNAL_WRITE", message, options);
  }
}

/**
 * A broker with a twist: queues live in this process, like the in-memory broker, but every change
 * is appended to a journal file before the call resolves. After a crash or restart, `start` replays
 * the journal: queued and delayed tasks are still there, and tasks that were running are
 * delivered again (their lease died with the process), with their delivery counts.
 *
 * Limits: one process per journal (workers in other processes cannot share it); the journal is
 * compacted at start only.
 */
export class JournalBroker implements Broker {
  readonly name = "journal";
  /** Where it keeps its queues, for logs and the start line of `qtasks run`. */
  readonly target: string;
  readonly leaseSeconds: number;
  readonly deliveryLimit: number;

  private readonly path: string;
  private readonly fsync: boolean;
  private readonly entries = new Map<number, Entry>();
  private nextId = 1;
  private tokens = 0;
  private file: Awaited<ReturnType<typeof open>> | undefined;
  private writing: Promise<void> = Promise.resolve();
  private waiters = new Set<() => void>();
  private started = false;
  private logger: Logger = silentLogger;

  constructor(options: JournalBrokerOptions) {
    if (!options.path) throw new InvalidOptionError("path", "a journal file path is required");
    this.path = options.path;
    this.target = `file:${options.path}`;
    this.leaseSeconds = validateSeconds(options.leaseSeconds ?? 30, "leaseSeconds");
    this.deliveryLimit = options.deliveryLimit ?? 5;
    this.fsync = options.fsync ?? false;
  }

  async start(ctx: ComponentContext): Promise<void> {
    if (this.started) return;
    this.logger = ctx.logger.child({ component: "broker", broker: this.name });
    await mkdir(dirname(this.path), { recursive: true });
    await this.replay();
    // Compact: rewrite the journal with the live entries only, then append from there.
    const tmp = `${this.path}.tmp`;
    const out = await open(tmp, "w");
    await out.write([...this.entries.values()].map((e) => this.snapshotLines(e)).join(""));
    await out.sync();
    await out.close();
    await rename(tmp, this.path);
    this.file = await open(this.path, "a");
    this.started = true;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.wake();
    await this.writing;
    await this.file?.close();
    this.file = undefined;
  }

  async publish(messages: PublishMessage[]): Promise<void> {
    this.assertStarted("publish");
    const now = Date.now();
    // Validate everything first: a bulk publish is all-or-error.
    const delays = messages.map((m) => (m.delay ? validateSeconds(m.delay, "delay") : 0));
    const added: Entry[] = messages.map((m, i) => {
      const id = this.nextId++;
      return {
        id,
        order: id,
        raw: encodeEnvelope(m.envelope),
        priority: m.envelope.priority,
        uuid: m.envelope.uuid,
        deliveries: 0,
        state: "ready",
        readyAt: now + delays[i]! * 1000,
      };
    });
    await this.append(added.map((e) => this.pubOp(e)));
    for (const e of added) this.entries.set(e.id, e);
    this.wake();
  }

  /** Puts raw bytes on the queue as a foreign producer would (for malformed-input tests). */
  async injectRaw(raw: string | Uint8Array, priority = 0): Promise<void> {
    this.assertStarted("injectRaw");
    const id = this.nextId++;
    const e: Entry = {
      id,
      order: id,
      raw,
      priority,
      uuid: "",
      deliveries: 0,
      state: "ready",
      readyAt: Date.now(),
    };
    await this.append([this.pubOp(e)]);
    this.entries.set(id, e);
    this.wake();
  }

  async claim(max: number, options: ClaimOptions): Promise<Delivery[]> {
    this.assertStarted("claim");
    const deadline = Date.now() + options.waitSeconds * 1000;
    for (;;) {
      const out = await this.take(max);
      if (out.length > 0) return out;
      const now = Date.now();
      if (now >= deadline || options.signal?.aborted || !this.started) return [];
      // Sleep until something is published or released, the next delay or lease is due, or the end.
      const until = Math.min(deadline, this.nextDue() ?? deadline);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          options.signal?.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(1, until - now));
        this.waiters.add(done);
        options.signal?.addEventListener("abort", done, { once: true });
      });
    }
  }

  async extendLease(delivery: Delivery): Promise<boolean> {
    const e = this.owned(delivery);
    if (!e) return false;
    e.leaseUntil = Date.now() + this.leaseSeconds * 1000;
    return true; // leases are not journaled: after a restart every lease is gone anyway
  }

  async ack(delivery: Delivery): Promise<boolean> {
    const e = this.owned(delivery);
    if (!e) return false;
    await this.append([{ op: "ack", id: e.id }]);
    this.entries.delete(e.id);
    return true;
  }

  async release(delivery: Delivery, options?: { delay?: number }): Promise<boolean> {
    const e = this.owned(delivery);
    if (!e) return false;
    const delay = options?.delay ? validateSeconds(options.delay, "delay") : 0;
    const readyAt = Date.now() + delay * 1000;
    await this.append([{ op: "release", id: e.id, readyAt }]);
    Object.assign(e, { state: "ready", readyAt, token: undefined, leaseUntil: undefined });
    this.wake();
    return true;
  }

  async deadLetter(delivery: Delivery, reason: string): Promise<boolean> {
    const e = this.owned(delivery);
    if (!e) return false;
    await this.kill(e, reason);
    return true;
  }

  async listDeadLetters(options?: { limit?: number }): Promise<DeadLetter[]> {
    return [...this.entries.values()]
      .filter((e) => e.state === "dead")
      .sort((a, b) => a.deadAt! - b.deadAt! || a.id - b.id)
      .slice(0, options?.limit ?? 100)
      .map((e) => {
        const envelope = e.envelope ?? tryDecode(e.raw);
        return envelope
          ? { id: envelope.uuid, envelope, reason: e.reason!, deadLetteredAt: new Date(e.deadAt!) }
          : {
              id: `malformed-${e.id}`,
              raw: rawText(e.raw),
              reason: e.reason!,
              deadLetteredAt: new Date(e.deadAt!),
            };
      });
  }

  async redriveDeadLetters(ids?: string[]): Promise<number> {
    this.assertStarted("redriveDeadLetters");
    const wanted = ids ? new Set(ids) : undefined;
    const chosen = [...this.entries.values()].filter((e) => {
      if (e.state !== "dead") return false;
      const envelope = tryDecode(e.raw); // malformed messages cannot be re-driven
      return envelope !== undefined && (!wanted || wanted.has(envelope.uuid));
    });
    if (chosen.length === 0) return 0;
    const orders = chosen.map(() => this.nextId++);
    await this.append(chosen.map((e, i) => ({ op: "redrive", id: e.id, order: orders[i]! }) as Op));
    chosen.forEach((e, i) => {
      Object.assign(e, { state: "ready", order: orders[i], deliveries: 0, readyAt: Date.now() });
    });
    this.wake();
    return chosen.length;
  }

  async stats(): Promise<BrokerStats> {
    const now = Date.now();
    this.expireLeases(now);
    const stats = { ready: {} as Record<number, number>, delayed: 0, inFlight: 0, deadLetters: 0 };
    for (const e of this.entries.values()) {
      if (e.state === "inflight") stats.inFlight++;
      else if (e.state === "dead") stats.deadLetters++;
      else if (e.readyAt > now) stats.delayed++;
      else stats.ready[e.priority] = (stats.ready[e.priority] ?? 0) + 1;
    }
    return stats;
  }

  // --- internals ---------------------------------------------------------------------------------

  /** Claims up to `max` ready entries: highest priority first, FIFO within a priority. */
  private async take(max: number): Promise<Delivery[]> {
    const now = Date.now();
    this.expireLeases(now);
    const chosen = [...this.entries.values()]
      .filter((e) => e.state === "ready" && e.readyAt <= now)
      .sort((a, b) => b.priority - a.priority || a.order - b.order)
      .slice(0, max);
    if (chosen.length === 0) return [];
    // Taken synchronously (a concurrent claim cannot take them too), then journaled in one write.
    // Deliveries are counted at claim and journaled, so a crash right after still counts them.
    const ops: Op[] = [];
    const out: Delivery[] = [];
    for (const e of chosen) {
      ops.push({ op: "claim", id: e.id });
      e.deliveries++;
      try {
        e.envelope = decodeEnvelope(e.raw);
      } catch (error) {
        const detail = error instanceof MalformedMessageError ? error.message : "malformed";
        this.logger.warn("dead-lettered a malformed message", { reason: detail, id: e.id });
        Object.assign(e, { state: "dead", reason: "malformed", deadAt: now });
        ops.push({ op: "dead", id: e.id, reason: "malformed", at: now });
        continue;
      }
      Object.assign(e, {
        state: "inflight",
        token: `${e.id}#${++this.tokens}`,
        leaseUntil: now + this.leaseSeconds * 1000,
      });
      out.push({ envelope: e.envelope, deliveryCount: e.deliveries, token: e.token! });
    }
    try {
      await this.append(ops);
    } catch (error) {
      // Not journaled: undo, so the journal and the queues agree.
      for (const e of chosen)
        Object.assign(e, {
          state: "ready",
          deliveries: e.deliveries - 1,
          token: undefined,
          leaseUntil: undefined,
        });
      throw error;
    }
    return out;
  }

  /** A lease that ran out makes its entry ready again (the worker is presumed dead). */
  private expireLeases(now: number): void {
    for (const e of this.entries.values()) {
      if (e.state === "inflight" && e.leaseUntil! <= now) {
        this.logger.warn("lease expired; the task is deliverable again", { uuid: e.uuid });
        Object.assign(e, { state: "ready", readyAt: now, token: undefined, leaseUntil: undefined });
      }
    }
  }

  private nextDue(): number | undefined {
    let next: number | undefined;
    for (const e of this.entries.values()) {
      const at = e.state === "ready" ? e.readyAt : e.state === "inflight" ? e.leaseUntil : undefined;
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  /** The entry a delivery still owns, or undefined for a stale delivery. */
  private owned(delivery: Delivery): Entry | undefined {
    this.expireLeases(Date.now());
    const id = Number(delivery.token.split("#")[0]);
    const e = this.entries.get(id);
    return e && e.state === "inflight" && e.token === delivery.token ? e : undefined;
  }

  private async kill(e: Entry, reason: string): Promise<void> {
    const at = Date.now();
    await this.append([{ op: "dead", id: e.id, reason, at }]);
    Object.assign(e, { state: "dead", reason, deadAt: at, token: undefined, leaseUntil: undefined });
  }

  private pubOp(e: Entry): Op {
    const body = typeof e.raw === "string" ? { raw: e.raw } : { b64: Buffer.from(e.raw).toString("base64") };
    return { op: "pub", id: e.id, ...body, priority: e.priority, uuid: e.uuid, readyAt: e.readyAt };
  }

  /** The lines that recreate one entry after compaction. */
  private snapshotLines(e: Entry): string {
    const ops: Op[] = [this.pubOp(e)];
    if (e.order !== e.id) ops.push({ op: "redrive", id: e.id, order: e.order });
    for (let i = 0; i < e.deliveries; i++) ops.push({ op: "claim", id: e.id });
    if (e.state === "ready" && e.readyAt !== undefined)
      ops.push({ op: "release", id: e.id, readyAt: e.readyAt });
    if (e.state === "dead") ops.push({ op: "dead", id: e.id, reason: e.reason!, at: e.deadAt! });
    return ops.map((o) => `${JSON.stringify(o)}\n`).join("");
  }

  /** Appends ops in order; resolves once they are written (and synced, with `fsync`). */
  private append(ops: Op[]): Promise<void> {
    const text = ops.map((o) => `${JSON.stringify(o)}\n`).join("");
    const write = this.writing.then(async () => {
      if (!this.file) throw new NotStartedError("JournalBroker is not started");
      try {
        await this.file.write(text);
        if (this.fsync) await this.file.datasync();
      } catch (cause) {
        throw new JournalWriteError("could not write the journal", { cause });
      }
    });
    this.writing = write.catch(() => {}); // one failed write does not block the next
    return write;
  }

  /** Rebuilds the entries from the journal. Entries that were in flight are ready again. */
  private async replay(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    this.entries.clear();
    const now = Date.now();
    const lines = text.split("\n");
    for (const [n, line] of lines.entries()) {
      if (line === "") continue;
      let op: Op;
      try {
        op = JSON.parse(line) as Op;
      } catch {
        // A torn last line (crash mid-write) is expected; anything else is worth a warning.
        if (n < lines.length - 2) this.logger.warn("skipped an unreadable journal line", { line: n + 1 });
        continue;
      }
      this.nextId = Math.max(this.nextId, op.id + 1, op.op === "redrive" ? op.order + 1 : 0);
      const e = this.entries.get(op.id);
      switch (op.op) {
        case "pub":
          this.entries.set(op.id, {
            id: op.id,
            order: op.id,
            raw: op.b64 !== undefined ? new Uint8Array(Buffer.from(op.b64, "base64")) : (op.raw ?? ""),
            priority: op.priority,
            uuid: op.uuid,
            deliveries: 0,
            state: "ready",
            readyAt: op.readyAt,
          });
          break;
        case "claim":
          if (e) Object.assign(e, { deliveries: e.deliveries + 1, state: "inflight" });
          break;
        case "ack":
          this.entries.delete(op.id);
          break;
        case "release":
          if (e) Object.assign(e, { state: "ready", readyAt: op.readyAt });
          break;
        case "dead":
          if (e) Object.assign(e, { state: "dead", reason: op.reason, deadAt: op.at });
          break;
        case "redrive":
          if (e) Object.assign(e, { state: "ready", order: op.order, deliveries: 0, readyAt: now });
          break;
      }
    }
    // The process that held these leases is gone: deliver them again now.
    for (const e of this.entries.values())
      if (e.state === "inflight") Object.assign(e, { state: "ready", readyAt: now });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private assertStarted(what: string): void {
    if (!this.started) throw new NotStartedError(`JournalBroker.${what} before start()`);
  }
}

function tryDecode(raw: string | Uint8Array): TaskEnvelope | undefined {
  try {
    return decodeEnvelope(raw);
  } catch {
    return undefined;
  }
}

/** The raw text of a malformed message, at most 1 KiB of UTF-8; undefined when it is not text. */
function rawText(raw: string | Uint8Array): string | undefined {
  let text: string;
  try {
    text = typeof raw === "string" ? raw : new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    return undefined;
  }
  if (text.length > 1024) text = text.slice(0, 1024);
  while (Buffer.byteLength(text, "utf8") > 1024) text = text.slice(0, -1);
  return text;
}
