import type { ComponentContext } from "../contracts/component";
import type { NewTaskRecord, TaskEnvelope, TaskRecord, TaskStatus } from "../contracts/record";
import { isFinalStatus, TASK_STATUSES } from "../contracts/record";
import type {
  BeginResult,
  CancelResult,
  FinalOutcome,
  ListOptions,
  Storage,
  StorageEvent,
  Unsubscribe,
} from "../contracts/storage";
import { recordFromEnvelope } from "../envelope";
import { InvalidOptionError } from "../errors";

type Listener = (event: StorageEvent) => void;

/**
 * The embedded storage: task records in a `Map`, notifications through in-process listeners.
 * Records are copied on the way in and out, so no caller can change a stored record by reference.
 * Nothing survives the process.
 */
export class MemoryStorage implements Storage {
  readonly name: string = "memory";
  private readonly records = new Map<string, TaskRecord>();
  private readonly outputs = new Map<string, unknown[]>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<
    TaskStatus,
    number
  >;

  async start(_ctx: ComponentContext): Promise<void> {}

  async stop(): Promise<void> {
    this.listeners.clear();
  }

  async add(records: NewTaskRecord[]): Promise<void> {
    // Copy all first, so a record that cannot be cloned leaves nothing half-added.
    const now = new Date();
    const copies = records.map((r) => {
      const rec: TaskRecord = {
        uuid: r.uuid,
        taskName: r.taskName,
        priority: r.priority,
        args: structuredClone(r.args),
        status: "new",
        attempt: 0,
        retries: r.retries,
        createdAt: r.createdAt ?? now,
        updatedAt: now,
        tags: [...r.tags],
        extra: structuredClone(r.extra),
      };
      if (r.retryOf) rec.retryOf = r.retryOf;
      if (r.parentUuid) rec.parentUuid = r.parentUuid;
      return rec;
    });
    for (const rec of copies) {
      if (this.records.has(rec.uuid)) continue;
      this.records.set(rec.uuid, rec);
      this.counts.new++;
    }
  }

  async begin(uuid: string, envelope: TaskEnvelope): Promise<BeginResult> {
    let rec = this.records.get(uuid);
    if (!rec) {
      await this.add([recordFromEnvelope(uuid, envelope)]);
      rec = this.records.get(uuid)!;
    }
    if (isFinalStatus(rec.status)) return { kind: "final", record: structuredClone(rec) };
    const now = new Date();
    this.setStatus(rec, "process");
    rec.attempt++;
    rec.startedAt = now;
    rec.updatedAt = now;
    this.notify(uuid, "status");
    return { kind: "started", attempt: rec.attempt, record: structuredClone(rec) };
  }

  async finish(uuid: string, attempt: number, outcome: FinalOutcome): Promise<boolean> {
    const rec = this.records.get(uuid);
    if (!rec || isFinalStatus(rec.status) || rec.attempt !== attempt) return false;
    // Clone the result before touching the record: an uncloneable value writes nothing.
    const returning = outcome.status === "success" ? structuredClone(outcome.returning) : undefined;
    const now = new Date();
    this.setStatus(rec, outcome.status);
    rec.updatedAt = now;
    rec.finishedAt = now;
    switch (outcome.status) {
      case "success":
        rec.returning = returning;
        break;
      case "error":
        rec.traceback = outcome.traceback;
        if (outcome.errorName) rec.errorName = outcome.errorName;
        if (outcome.deadLetterReason) rec.deadLetterReason = outcome.deadLetterReason;
        break;
      case "cancel":
        rec.cancelReason = outcome.cancelReason;
        break;
      case "retry":
        rec.traceback = outcome.traceback;
        if (outcome.errorName) rec.errorName = outcome.errorName;
        rec.retryUuid = outcome.retryUuid;
        break;
    }
    this.notify(uuid, "final");
    return true;
  }

  async get(uuid: string): Promise<TaskRecord | null> {
    const rec = this.records.get(uuid);
    return rec ? structuredClone(rec) : null;
  }

  async subscribe(uuid: string, listener: Listener): Promise<Unsubscribe> {
    let set = this.listeners.get(uuid);
    if (!set) {
      set = new Set();
      this.listeners.set(uuid, set);
    }
    set.add(listener);
    return async () => {
      const s = this.listeners.get(uuid);
      if (!s) return;
      s.delete(listener);
      if (s.size === 0) this.listeners.delete(uuid);
    };
  }

  async appendOutput(uuid: string, attempt: number, value: unknown): Promise<void> {
    const rec = this.records.get(uuid);
    if (!rec || rec.attempt !== attempt || isFinalStatus(rec.status)) return;
    const copy = structuredClone(value);
    let list = this.outputs.get(uuid);
    if (!list) {
      list = [];
      this.outputs.set(uuid, list);
    }
    list.push(copy);
    this.notify(uuid, "output");
  }

  async getOutputs(uuid: string, from = 0): Promise<unknown[]> {
    return structuredClone(this.outputs.get(uuid)?.slice(from) ?? []);
  }

  async requestCancel(uuid: string, reason: string): Promise<CancelResult> {
    const rec = this.records.get(uuid);
    if (!rec) return "not-found";
    if (isFinalStatus(rec.status)) return "final";
    const now = new Date();
    rec.cancelReason = reason;
    rec.updatedAt = now;
    if (rec.status === "new") {
      this.setStatus(rec, "cancel");
      rec.finishedAt = now;
      this.notify(uuid, "final");
      return "cancelled";
    }
    this.notify(uuid, "cancel");
    return "requested";
  }

  async requeue(uuid: string): Promise<boolean> {
    const rec = this.records.get(uuid);
    if (rec?.status !== "error") return false;
    this.setStatus(rec, "new");
    rec.updatedAt = new Date();
    delete rec.traceback;
    delete rec.errorName;
    delete rec.deadLetterReason;
    delete rec.finishedAt;
    this.notify(uuid, "status");
    return true;
  }

  async list(options: ListOptions = {}): Promise<TaskRecord[]> {
    const limit = Math.min(Math.max(options.limit ?? 100, 0), 1000);
    const offset = Math.max(options.offset ?? 0, 0);
    const since = listTime(options.createdSince, "createdSince");
    const before = listTime(options.createdBefore, "createdBefore");
    const out: TaskRecord[] = [];
    let skipped = 0;
    // Newest first by createdAt (a record may be added with an older createdAt, or created by
    // `begin` from an old envelope); insertion order breaks ties, latest first.
    const all = [...this.records.values()];
    const order = all.map((_, i) => i);
    order.sort((a, b) => all[b]!.createdAt.getTime() - all[a]!.createdAt.getTime() || b - a);
    for (const i of order) {
      if (out.length >= limit) break;
      const r = all[i]!;
      if (options.status && r.status !== options.status) continue;
      if (options.taskName && r.taskName !== options.taskName) continue;
      if (options.tag !== undefined && !r.tags.includes(options.tag)) continue;
      if (since !== undefined && r.createdAt.getTime() < since) continue;
      if (before !== undefined && r.createdAt.getTime() >= before) continue;
      if (skipped++ < offset) continue;
      out.push(structuredClone(r));
    }
    return out;
  }

  async count(): Promise<Record<TaskStatus, number>> {
    return { ...this.counts };
  }

  async purge(options: { olderThanSeconds: number; limit?: number }): Promise<number> {
    const cutoff = Date.now() - options.olderThanSeconds * 1000;
    const limit = options.limit ?? 1000;
    let n = 0;
    for (const [uuid, r] of this.records) {
      if (n >= limit) break;
      if (isFinalStatus(r.status) && r.finishedAt && r.finishedAt.getTime() <= cutoff) {
        this.records.delete(uuid);
        this.outputs.delete(uuid);
        this.counts[r.status]--;
        n++;
      }
    }
    return n;
  }

  private setStatus(rec: TaskRecord, status: TaskStatus): void {
    this.counts[rec.status]--;
    rec.status = status;
    this.counts[status]++;
  }

  private notify(uuid: string, kind: StorageEvent["kind"]): void {
    const set = this.listeners.get(uuid);
    if (!set) return;
    const event: StorageEvent = { uuid, kind };
    // Deliver asynchronously, like a real storage: a listener never runs inside the write.
    queueMicrotask(() => {
      for (const l of set) l(event);
    });
  }
}

/** A `list` time bound as milliseconds, or undefined when absent; an invalid Date is refused. */
function listTime(value: Date | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : Number.NaN;
  if (Number.isNaN(ms)) throw new InvalidOptionError(option, "must be a valid Date");
  return ms;
}
