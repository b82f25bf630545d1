import type {
  BeginResult,
  CancelResult,
  ComponentContext,
  FinalOutcome,
  ListOptions,
  Logger,
  NewTaskRecord,
  Storage,
  StorageEvent,
  TaskEnvelope,
  TaskRecord,
  TaskStatus,
  Unsubscribe,
} from "@qtasks/core";
import { InvalidOptionError, maskUrl, NotStartedError, TASK_STATUSES } from "@qtasks/core";
import type { Redis } from "ioredis";
import { decodeRecord, envelopeFields, toJson } from "./codec";
import type { RedisConnectionOptions } from "./connection";
import {
  attachErrorLog,
  connectWithin,
  createClient,
  describeTarget,
  duplicateForSubscriber,
  resolvePrefix,
  resolveUrl,
  toConnectionError,
  withDeadline,
} from "./connection";
import {
  addCall,
  beginHead,
  decodeBegin,
  finishHead,
  finishItem,
  REDIS_STORAGE_FUSION,
  type RedisStorageFusion,
  type ScriptCall,
} from "./fusion";
import { StorageKeys } from "./keys";
import {
  ADD,
  APPEND_OUTPUT_MANY,
  BEGIN_MANY,
  FINISH_MANY,
  PURGE_CANDIDATES,
  PURGE_DELETE,
  REQUEST_CANCEL,
  REQUEUE,
} from "./scripts";
import { SubscriptionHub } from "./subscription-hub";

export interface RedisStorageOptions extends RedisConnectionOptions {
  /** Final records (and their outputs) expire this many seconds after they finish. Default: keep. */
  retentionSeconds?: number;
}

const COMPONENT = "redis storage";
/** Records per `add` script call; the calls of one `add` share one pipeline (one round trip). */
const ADD_CHUNK = 500;
const PURGE_BATCH = 100;
/** How many expired records a `count`/`list` sweeps before answering (retention only). */
const SWEEP_LIMIT = 1000;
const SWEEP_INTERVAL_MS = 60_000;
/**
 * Most `begin`/`finish`/`appendOutput` calls one batch script carries. Calls made in the same tick
 * are coalesced (flushed on `setImmediate`); reaching this many flushes at once.
 */
export const MAX_BATCH = 500;
/**
 * A batch whose arguments reach this many characters is flushed at once too, so that large results
 * or outputs do not pile up into one huge command (a script blocks Redis while it runs).
 */
export const MAX_BATCH_CHARS = 1 << 20;

/** The coalesced operations, in the order a flush sends them (see `flush`). */
type BatchKind = "begin" | "appendOutput" | "finish";
const BATCH_ORDER: readonly BatchKind[] = ["begin", "appendOutput", "finish"];
const BATCH_COMMAND: Record<BatchKind, string> = {
  begin: "qtasksStorageBeginMany",
  appendOutput: "qtasksStorageAppendOutputMany",
  finish: "qtasksStorageFinishMany",
};

/** One queued call: its own KEYS and ARGV items, and its caller's promise. */
interface BatchItem {
  keys: string[];
  args: (string | number)[];
  resolve: (reply: unknown) => void;
  reject: (error: unknown) => void;
}

/** A script's per-item error reply, as the error a script error gives today (a ReplyError). */
function itemError(what: string, message: unknown): Error {
  const err = new Error(String(message));
  err.name = "ReplyError";
  return toConnectionError(COMPONENT, what, err);
}

/** Index members are 12 hex digits of insertion order followed by the uuid (see scripts.ts). */
function uuidOf(member: string): string {
  return member.slice(12);
}

type Script = (...args: (string | number)[]) => Promise<unknown>;

/** The scripts as commands on the client (EVALSHA, falling back to EVAL once after a SCRIPT FLUSH). */
const COMMANDS: Record<string, { lua: string }> = {
  qtasksStorageAdd: { lua: ADD },
  qtasksStorageBeginMany: { lua: BEGIN_MANY },
  qtasksStorageFinishMany: { lua: FINISH_MANY },
  qtasksStorageAppendOutputMany: { lua: APPEND_OUTPUT_MANY },
  qtasksStorageRequestCancel: { lua: REQUEST_CANCEL },
  qtasksStorageRequeue: { lua: REQUEUE },
  qtasksStoragePurgeCandidates: { lua: PURGE_CANDIDATES },
  qtasksStoragePurgeDelete: { lua: PURGE_DELETE },
};

/**
 * Task records on Redis: a hash per task, a sorted set per status and one for all records (scored by
 * `createdAt`, ties in insertion order), a sorted set of finished records by finish time (retention),
 * a list of outputs per task, and a pub/sub channel per task for notifications. Every guarded change
 * is a Lua script; `begin`, `finish` and `appendOutput` calls of one tick share one script call per
 * operation (see `enqueue`). See the README for the key layout and round trips.
 */
export class RedisStorage implements Storage {
  readonly name = "redis";
  /** Where it connects, password masked (contract `target`). */
  get target(): string {
    return this.options.client ? "redis (given client)" : maskUrl(resolveUrl(this.options));
  }
  private readonly options: RedisStorageOptions;
  private readonly timeoutMs: number;
  private readonly retentionMs: number;
  private client: Redis | undefined;
  private owned = false;
  private subConn: Redis | undefined;
  private hub: SubscriptionHub | undefined;
  private keys: StorageKeys | undefined;
  private logger: Logger | undefined;
  private starting: Promise<void> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Calls waiting for the next flush, by operation. */
  private queues: Record<BatchKind, BatchItem[]> = { begin: [], appendOutput: [], finish: [] };
  private queued = 0;
  private queuedChars = 0;
  private flushTimer: NodeJS.Immediate | undefined;
  /** Batches sent and not yet answered (`stop` waits for them). */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(options: RedisStorageOptions = {}) {
    if (
      options.retentionSeconds !== undefined &&
      !(Number.isFinite(options.retentionSeconds) && options.retentionSeconds > 0)
    ) {
      throw new InvalidOptionError("retentionSeconds", "must be a positive number of seconds");
    }
    this.options = { ...options };
    this.timeoutMs = options.commandTimeoutMs ?? 5000;
    this.retentionMs = options.retentionSeconds
      ? Math.max(1, Math.round(options.retentionSeconds * 1000))
      : 0;
  }

  /** The key prefix in use (after `start`). */
  get prefix(): string {
    return this.k().prefix;
  }

  async start(ctx: ComponentContext): Promise<void> {
    if (this.client) return;
    this.starting ??= this.doStart(ctx).catch((err) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async doStart(ctx: ComponentContext): Promise<void> {
    const logger = ctx.logger.child({ component: COMPONENT });
    const keys = new StorageKeys(resolvePrefix(this.options.prefix, ctx.appName));
    const owned = !this.options.client;
    const client = this.options.client ?? createClient(this.options, "qtasks:storage");
    for (const [name, def] of Object.entries(COMMANDS)) {
      if (!(name in client)) client.defineCommand(name, { lua: def.lua });
    }
    if (owned) attachErrorLog(client, logger, "main");
    try {
      await connectWithin(COMPONENT, describeTarget(this.options, client), client, this.timeoutMs);
    } catch (err) {
      if (owned) client.disconnect();
      throw err;
    }
    this.logger = logger;
    this.keys = keys;
    this.owned = owned;
    this.client = client;
    if (this.retentionMs > 0) {
      this.sweepTimer = setInterval(() => {
        this.sweep().catch(() => {});
      }, SWEEP_INTERVAL_MS);
      this.sweepTimer.unref();
    }
  }

  async stop(): Promise<void> {
    // A stop during start waits for it, so that the connection it opens is closed too.
    if (!this.client && this.starting) await this.starting.catch(() => {});
    const client = this.client;
    if (!client) return;
    // Pending calls are sent before the connection goes ("flush pending writes").
    if (this.queued > 0) this.flush();
    await Promise.allSettled([...this.inFlight]);
    if (this.client !== client) return;
    this.client = undefined;
    this.starting = undefined;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.hub?.close();
    this.hub = undefined;
    this.subConn?.disconnect();
    this.subConn = undefined;
    if (this.owned) {
      try {
        await withDeadline(COMPONENT, "QUIT", 2000, () => client.quit());
      } catch {
        client.disconnect();
      }
    }
  }

  async add(records: NewTaskRecord[]): Promise<void> {
    if (records.length === 0) return;
    const k = this.k();
    // Encode everything first: a value that cannot be stored rejects before anything is written.
    const calls: ScriptCall[] = [];
    for (let i = 0; i < records.length; i += ADD_CHUNK)
      calls.push(addCall(k, records.slice(i, i + ADD_CHUNK)));
    const client = this.c();
    await this.run("add", async () => {
      const pipe = client.pipeline();
      for (const call of calls)
        (pipe as unknown as Record<string, Script>).qtasksStorageAdd!(
          call.keys.length,
          ...call.keys,
          ...call.args,
        );
      const results = await pipe.exec();
      for (const [err] of results ?? []) if (err) throw err;
    });
  }

  async begin(uuid: string, envelope: TaskEnvelope): Promise<BeginResult> {
    const k = this.k();
    const key = [k.task(uuid)];
    let reply = await this.enqueue("begin", key, [uuid, 0]);
    if (reply === 0) {
      // Rare: a message published without a record. Send the envelope only now (it may be large).
      const create = envelopeFields(uuid, envelope);
      reply = await this.enqueue("begin", key, [uuid, create.length, ...create]);
    }
    // Never 0 here: a call with create items creates the missing record.
    return decodeBegin(uuid, reply)!;
  }

  async finish(uuid: string, attempt: number, outcome: FinalOutcome): Promise<boolean> {
    const item = finishItem(this.k(), this.retentionMs, uuid, attempt, outcome);
    const reply = await this.enqueue("finish", item.keys, item.args);
    return reply === 1;
  }

  /** The fusion surface for a Redis broker on the same Redis (see `RedisStorageFusion`). */
  [REDIS_STORAGE_FUSION](): RedisStorageFusion {
    const k = this.k();
    const retentionMs = this.retentionMs;
    return {
      client: this.c(),
      prefix: k.prefix,
      scripts: { add: ADD, beginMany: BEGIN_MANY, finishMany: FINISH_MANY },
      addCall: (records) => addCall(k, records),
      beginHead: () => ({ ...beginHead(k), taskPrefix: k.task("") }),
      finishCall: (items) => {
        const call = finishHead(k, retentionMs);
        for (const it of items) {
          const one = finishItem(k, retentionMs, it.uuid, it.attempt, it.outcome);
          call.keys.push(...one.keys);
          call.args.push(...one.args);
        }
        return call;
      },
      decodeBegin,
    };
  }

  async get(uuid: string): Promise<TaskRecord | null> {
    const k = this.k();
    const c = this.c();
    const fields = await this.run("get", () => c.hgetall(k.task(uuid)));
    return decodeRecord(uuid, new Map(Object.entries(fields)));
  }

  async subscribe(uuid: string, listener: (event: StorageEvent) => void): Promise<Unsubscribe> {
    const k = this.k();
    return this.subscriptions().subscribe(uuid, k.channel(uuid), listener);
  }

  async appendOutput(uuid: string, attempt: number, value: unknown): Promise<void> {
    const k = this.k();
    const json = toJson(value, "output");
    await this.enqueue("appendOutput", [k.task(uuid), k.outputs(uuid)], [uuid, String(attempt), json]);
  }

  async getOutputs(uuid: string, from = 0): Promise<unknown[]> {
    const k = this.k();
    const c = this.c();
    const items = await this.run("getOutputs", () =>
      c.lrange(k.outputs(uuid), Math.max(0, Math.trunc(from) || 0), -1),
    );
    return items.map((s) => JSON.parse(s));
  }

  async requestCancel(uuid: string, reason: string): Promise<CancelResult> {
    const k = this.k();
    const reply = await this.script(
      "requestCancel",
      "qtasksStorageRequestCancel",
      [k.task(uuid), k.outputs(uuid), k.finished, k.status("new"), k.status("cancel")],
      [uuid, k.channel(uuid), toJson(reason, "cancel reason"), this.retentionMs],
    );
    return reply as CancelResult;
  }

  async requeue(uuid: string): Promise<boolean> {
    const k = this.k();
    const reply = await this.script(
      "requeue",
      "qtasksStorageRequeue",
      [k.task(uuid), k.outputs(uuid), k.finished, k.status("error"), k.status("new")],
      [uuid, k.channel(uuid)],
    );
    return reply === 1;
  }

  async list(options: ListOptions = {}): Promise<TaskRecord[]> {
    const k = this.k();
    const c = this.c();
    const limit = Math.min(Math.max(Math.trunc(options.limit ?? 100), 0), 1000);
    const offset = Math.max(Math.trunc(options.offset ?? 0), 0);
    if (limit === 0) return [];
    await this.sweep();
    const index = options.status ? k.status(options.status) : k.all;
    // The indexes are scored by createdAt (ms): a time range is a score range of the same index.
    const since = listTime(options.createdSince, "createdSince");
    const before = listTime(options.createdBefore, "createdBefore");
    const ranged = since !== undefined || before !== undefined;
    const max = before === undefined ? "+inf" : `(${before}`;
    const min = since === undefined ? "-inf" : String(since);
    // Without a task-name or tag filter the index position is the offset; with one, matches are
    // counted (the status index, within the time range, is walked and other records skipped).
    const filtered = options.taskName !== undefined || options.tag !== undefined;
    let pos = filtered ? 0 : offset;
    let skip = filtered ? offset : 0;
    const batch = Math.max(limit, 100);
    const out: TaskRecord[] = [];
    while (out.length < limit) {
      const members = await this.run("list", () =>
        ranged
          ? c.zrevrangebyscore(index, max, min, "LIMIT", pos, batch)
          : c.zrevrange(index, pos, pos + batch - 1),
      );
      if (members.length === 0) break;
      pos += members.length;
      const uuids = members.map(uuidOf);
      const replies = await this.run("list", async () => {
        const pipe = c.pipeline();
        for (const u of uuids) pipe.hgetall(k.task(u));
        return (await pipe.exec()) ?? [];
      });
      for (let i = 0; i < uuids.length && out.length < limit; i++) {
        const [err, fields] = replies[i] ?? [];
        if (err) throw err;
        const rec = decodeRecord(uuids[i]!, new Map(Object.entries(fields as Record<string, string>)));
        // Gone (expired) or changed status since the index was read: not part of this answer.
        if (!rec || (options.status && rec.status !== options.status)) continue;
        if (options.taskName !== undefined && rec.taskName !== options.taskName) continue;
        if (options.tag !== undefined && !rec.tags.includes(options.tag)) continue;
        if (skip > 0) {
          skip--;
          continue;
        }
        out.push(rec);
      }
      if (members.length < batch) break;
    }
    return out;
  }

  async count(): Promise<Record<TaskStatus, number>> {
    const k = this.k();
    const c = this.c();
    await this.sweep();
    const replies = await this.run("count", async () => {
      const pipe = c.pipeline();
      for (const s of TASK_STATUSES) pipe.zcard(k.status(s));
      return (await pipe.exec()) ?? [];
    });
    const out = {} as Record<TaskStatus, number>;
    TASK_STATUSES.forEach((s, i) => {
      const [err, n] = replies[i] ?? [];
      if (err) throw err;
      out[s] = Number(n);
    });
    return out;
  }

  async purge(options: { olderThanSeconds: number; limit?: number }): Promise<number> {
    if (!(options.olderThanSeconds >= 0)) {
      throw new InvalidOptionError("olderThanSeconds", "must be a number of seconds >= 0");
    }
    return this.purgeOlderThan(
      Math.round(options.olderThanSeconds * 1000),
      Math.floor(options.limit ?? 1000),
    );
  }

  /** Delete in small batches (each batch one short script), oldest finished first. */
  private async purgeOlderThan(olderThanMs: number, limit: number): Promise<number> {
    const k = this.k();
    let deleted = 0;
    while (deleted < limit) {
      const want = Math.min(PURGE_BATCH, limit - deleted);
      const [cutoff, members] = (await this.script(
        "purge",
        "qtasksStoragePurgeCandidates",
        [k.finished],
        [olderThanMs, want],
      )) as [string, string[]];
      if (members.length === 0) break;
      const keys = [
        k.all,
        k.finished,
        k.status("success"),
        k.status("error"),
        k.status("cancel"),
        k.status("retry"),
      ];
      for (const m of members) keys.push(k.task(uuidOf(m)), k.outputs(uuidOf(m)));
      const n = (await this.script("purge", "qtasksStoragePurgeDelete", keys, [
        cutoff,
        ...members,
      ])) as number;
      deleted += n;
      // Everything in the batch was requeued or refinished meanwhile: stop rather than spin.
      if (n === 0) break;
    }
    return deleted;
  }

  /** With retention, drop expired records from the indexes before counting or listing. */
  private async sweep(): Promise<void> {
    if (this.retentionMs > 0) await this.purgeOlderThan(this.retentionMs, SWEEP_LIMIT);
  }

  private subscriptions(): SubscriptionHub {
    if (!this.hub) {
      const main = this.c();
      const name = `${main.options.connectionName ?? "qtasks:storage"}:sub`;
      this.subConn = duplicateForSubscriber(main, name);
      this.hub = new SubscriptionHub(this.subConn, this.timeoutMs, this.logger!);
    }
    return this.hub;
  }

  /**
   * Queue one call for the next batch. Calls made in the same tick (the worker starts a whole claim's
   * tasks at once, and short tasks finish together) go to Redis as one script call.
   */
  private enqueue(kind: BatchKind, keys: string[], args: (string | number)[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queues[kind].push({ keys, args, resolve, reject });
      for (const a of args) if (typeof a === "string") this.queuedChars += a.length;
      if (++this.queued >= MAX_BATCH || this.queuedChars >= MAX_BATCH_CHARS) this.flush();
      else this.flushTimer ??= setImmediate(() => this.flush());
    });
  }

  /**
   * Send every queued batch. The commands are written synchronously and in a fixed order on the one
   * connection: `begin`, then `appendOutput`, then `finish`, so that outputs a task appended before
   * finishing are never refused as stale by its own final write.
   */
  private flush(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    this.queued = 0;
    this.queuedChars = 0;
    for (const kind of BATCH_ORDER) {
      const items = this.queues[kind];
      if (items.length === 0) continue;
      this.queues[kind] = [];
      const sent = this.sendBatch(kind, items);
      this.inFlight.add(sent);
      void sent.finally(() => this.inFlight.delete(sent));
    }
  }

  /** One script call for the batch; each caller gets its own reply (or its own item's error). */
  private async sendBatch(kind: BatchKind, items: BatchItem[]): Promise<void> {
    let replies: unknown[];
    try {
      const k = this.k();
      const head =
        kind === "begin"
          ? beginHead(k)
          : kind === "finish"
            ? finishHead(k, this.retentionMs)
            : { keys: [], args: [k.channel("")] };
      const { keys, args } = head;
      for (const it of items) {
        for (const key of it.keys) keys.push(key);
        for (const a of it.args) args.push(a);
      }
      replies = (await this.script(kind, BATCH_COMMAND[kind], keys, args)) as unknown[];
    } catch (err) {
      // The connection (or the script as a whole) failed: every caller of the batch gets the error.
      for (const it of items) it.reject(err);
      return;
    }
    for (let i = 0; i < items.length; i++) {
      const r = replies[i];
      if (Array.isArray(r) && r[0] === -1) items[i]!.reject(itemError(kind, r[1]));
      else items[i]!.resolve(r);
    }
  }

  private script(what: string, command: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    const c = this.c() as unknown as Record<string, Script>;
    return this.run(what, () => c[command]!(keys.length, ...keys, ...args));
  }

  private run<T>(what: string, call: () => Promise<T>): Promise<T> {
    return withDeadline(COMPONENT, what, this.timeoutMs, call);
  }

  private c(): Redis {
    if (!this.client) throw new NotStartedError("RedisStorage is not started (call start() first)");
    return this.client;
  }

  private k(): StorageKeys {
    if (!this.keys || !this.client)
      throw new NotStartedError("RedisStorage is not started (call start() first)");
    return this.keys;
  }
}

/** A `list` time bound as milliseconds, or undefined when absent; an invalid Date is refused. */
function listTime(value: Date | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : Number.NaN;
  if (Number.isNaN(ms)) throw new InvalidOptionError(option, "must be a valid Date");
  return ms;
}
