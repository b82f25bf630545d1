import {
  type BegunDelivery,
  type Broker,
  type BrokerStats,
  type ClaimOptions,
  type ComponentContext,
  type DeadLetter,
  type Delivery,
  decodeEnvelope,
  encodeEnvelope,
  type FinalOutcome,
  type FusedOperations,
  InvalidOptionError,
  type Logger,
  MAX_PRIORITY,
  MalformedMessageError,
  maskUrl,
  type NewTaskRecord,
  NotStartedError,
  type PublishMessage,
  QTasksError,
  type Storage,
  silentLogger,
  type TaskEnvelope,
  validatePriority,
  validateSeconds,
} from "@qtasks/core";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { RedisBrokerCommandError, RedisUnavailableError } from "./errors";
import { hashTagOf, plainReply, type StorageFusion, sameEndpoint, storageFusionOf } from "./fusion";
import { defineScript } from "./script-commands";
import {
  ACK,
  CLAIM,
  DEAD_LETTER,
  EXTEND,
  fusedClaimBeginScript,
  fusedEnqueueScript,
  fusedFinishAckScript,
  LIST_DEAD,
  PUBLISH,
  REDRIVE,
  RELEASE,
  STATS,
} from "./scripts";
import { coalesceWrites } from "./write-coalescing";

export interface RedisBrokerOptions {
  /** Redis URL. Default `REDIS_URL`, else `redis://127.0.0.1:6379`. Ignored when `client` is given. */
  url?: string;
  /** ioredis options for the connections the broker creates (merged over the URL). */
  redis?: RedisOptions;
  /**
   * An existing ioredis client, standalone (`Redis`) or `Cluster`. The broker runs its commands on it
   * and never closes it; it still creates (and closes) one duplicate of its own for blocking waits.
   */
  client?: Redis | Cluster;
  /**
   * Key prefix. Default `qtasks:{<appName>}:broker:`. A prefix without a Redis Cluster hash tag gets
   * `{<appName>}:` appended, so all keys of the queue always share one slot.
   */
  prefix?: string;
  /** Seconds a claim stays leased without renewal. Default 30. */
  leaseSeconds?: number;
  /** Claims after which the worker dead-letters a task. Default 5. */
  deliveryLimit?: number;
  /**
   * Claims a worker keeps in flight at once, each for its share of the free slots (see
   * `Broker.claimLanes`), when it claims through the fused claim-and-begin (with `RedisStorage` on
   * the same Redis). Default 2: Redis runs one batch's scripts while the worker runs the other's
   * tasks. 1 claims everything in one round trip and waits for it.
   */
  claimLanes?: number;
  /**
   * Longest time an idle claimer blocks before it sweeps expired leases (and due delays) itself.
   * Default 1000 ms. Redelivery after a worker died happens within `leaseSeconds` plus this.
   */
  sweepIntervalMs?: number;
  /**
   * How long `publish`, `ack` and the other one-shot operations wait for Redis before they reject
   * with `RedisUnavailableError`. Default 3000 ms. `claim` never fails on a lost connection: it
   * waits for the reconnect (up to its `waitSeconds`).
   */
  commandTimeoutMs?: number;
  /** Client name shown by `CLIENT LIST` (the blocking connection adds `:block`). Default `qtasks-broker-<appName>`. */
  connectionName?: string;
}

/** Test helper surface: write raw bytes where an envelope would be. */
export interface RawInjector {
  injectRaw(raw: string | Uint8Array, priority?: number): Promise<void>;
}

interface Keys {
  seq: string;
  ready: string;
  delayed: string;
  lease: string;
  msg: string;
  dc: string;
  dead: string;
  deadinfo: string;
  wake: string;
  dgen: string;
}

type Arg = string | Buffer | number;

/** The scripts, as ioredis defines them on a client (EVALSHA, with EVAL on NOSCRIPT). */
interface ScriptCommands {
  qtasksBrokerPublish(...args: Arg[]): Promise<number>;
  qtasksBrokerClaimBuffer(...args: Arg[]): Promise<[number, number, ...Buffer[]]>;
  qtasksBrokerExtend(...args: Arg[]): Promise<number[]>;
  qtasksBrokerAck(...args: Arg[]): Promise<number[]>;
  qtasksBrokerRelease(...args: Arg[]): Promise<number>;
  qtasksBrokerDeadLetter(...args: Arg[]): Promise<number>;
  qtasksBrokerListDead(...args: Arg[]): Promise<string[]>;
  qtasksBrokerRedrive(...args: Arg[]): Promise<number>;
  qtasksBrokerStats(...args: Arg[]): Promise<number[]>;
  qtasksFusedEnqueue(...args: Arg[]): Promise<number>;
  qtasksFusedClaimBeginBuffer(...args: Arg[]): Promise<[[number, number, ...Buffer[]], unknown[]]>;
  qtasksFusedFinishAck(...args: Arg[]): Promise<unknown[]>;
}

/** A standalone or cluster client: the broker uses only what both offer. */
type AnyClient = Redis | Cluster;
type ScriptClient = AnyClient & ScriptCommands;

const SCRIPTS: [keyof ScriptCommands | "qtasksBrokerClaim", number, string][] = [
  ["qtasksBrokerPublish", 6, PUBLISH],
  ["qtasksBrokerClaim", 8, CLAIM],
  ["qtasksBrokerExtend", 1, EXTEND],
  ["qtasksBrokerAck", 3, ACK],
  ["qtasksBrokerRelease", 5, RELEASE],
  ["qtasksBrokerDeadLetter", 6, DEAD_LETTER],
  ["qtasksBrokerListDead", 3, LIST_DEAD],
  ["qtasksBrokerRedrive", 6, REDRIVE],
  ["qtasksBrokerStats", 4, STATS],
];

const TOKEN_RE = /^(\d+)\.(\d+)$/;
// Most tokens one batched ack or renewal call carries.
const TOKEN_BATCH_LIMIT = 1000;

interface TokenBatch {
  kind: "ack" | "extendLease";
  items: { token: string; id: string; resolve(ok: boolean): void; reject(error: unknown): void }[];
}

/** A fused finish-and-ack waiting for the tick's batch. */
interface FinishItem {
  uuid: string;
  attempt: number;
  outcome: FinalOutcome;
  token: string;
  id: string;
  resolve(ok: boolean): void;
  reject(error: unknown): void;
}

/** Records (and their envelopes) per fused enqueue call; the calls of one enqueue share one write. */
const FUSED_ENQUEUE_CHUNK = 500;
/** Most items one fused finish-and-ack call carries. */
const FUSED_FINISH_LIMIT = 500;
// Expired leases and due delays moved per claim, so one claim never holds Redis for long.
const SWEEP_LIMIT = 1000;
// Most envelopes one claim hands out (Lua's unpack() has a stack limit near 8000 values).
const CLAIM_LIMIT = 1000;
const DEFAULT_URL = "redis://127.0.0.1:6379";

/** Reconnect forever, with exponential backoff capped at 2 s plus jitter. */
function backoff(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2000) + Math.floor(Math.random() * 100);
}

/** A Redis error reply (the server answered) as opposed to a transport failure. */
function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === "ReplyError";
}

function hasHashTag(s: string): boolean {
  const open = s.indexOf("{");
  if (open === -1) return false;
  const close = s.indexOf("}", open + 1);
  return close > open + 1;
}

function parseToken(token: string): { id: string; count: number } | undefined {
  const m = TOKEN_RE.exec(token);
  return m ? { id: m[1]!, count: Number(m[2]) } : undefined;
}

/**
 * A Redis broker: at-least-once delivery under leases, priorities and FIFO enforced by Redis (one
 * sorted set), delays without a scheduler process, dead letters, and blocking claims that wake
 * within milliseconds of a publish. Every multi-key operation is one Lua script; all keys share one
 * hash tag (Redis Cluster safe); no `KEYS` command anywhere.
 */
export class RedisBroker implements Broker, RawInjector {
  readonly name = "redis";
  readonly leaseSeconds: number;
  readonly deliveryLimit: number;
  readonly claimLanes: number;

  private readonly options: RedisBrokerOptions;
  private readonly sweepMs: number;
  private readonly commandTimeoutMs: number;
  private started = false;
  private logger: Logger = silentLogger;
  private main: ScriptClient | undefined;
  private blocking: AnyClient | undefined;
  private ownsMain = false;
  private keys!: Keys;
  private where = "";
  // Passwords we know of, scrubbed from any error text we log or wrap (belt and braces: ioredis
  // messages do not carry them, but a reply error's command arguments could).
  private secrets: string[] = [];
  private lastError = "";
  // The delay-schedule generation this broker has seen (-1: none yet); see the CLAIM script.
  private seenGen = -1;
  private readonly waiters = new Set<() => void>();
  // Pending waits for a reconnect; stop() ends them.
  private readonly stopHooks = new Set<() => void>();
  private readonly readyHooks = new Map<AnyClient, Set<() => void>>();
  private unwatch: (() => void)[] = [];
  // Acks and lease renewals issued in one tick, sent as one script call each (see batched()).
  private readonly ackBatch: TokenBatch = { kind: "ack", items: [] };
  private readonly extendBatch: TokenBatch = { kind: "extendLease", items: [] };
  // Fused finish-and-ack calls of one tick, sent as one script call (see fuse()).
  private readonly finishBatch: FinishItem[] = [];
  private blockLoopRunning = false;
  private mainDown = false;
  private blockingDown = false;

  constructor(options: RedisBrokerOptions = {}) {
    this.options = options;
    this.leaseSeconds = validateSeconds(options.leaseSeconds ?? 30, "leaseSeconds");
    if (this.leaseSeconds <= 0) throw new InvalidOptionError("leaseSeconds", "must be more than 0");
    const limit = options.deliveryLimit ?? 5;
    if (!Number.isInteger(limit) || limit < 1)
      throw new InvalidOptionError("deliveryLimit", `must be an integer >= 1, got ${String(limit)}`);
    this.deliveryLimit = limit;
    const lanes = options.claimLanes ?? 2;
    if (!Number.isInteger(lanes) || lanes < 1 || lanes > 16)
      throw new InvalidOptionError("claimLanes", `must be an integer from 1 to 16, got ${String(lanes)}`);
    this.claimLanes = lanes;
    this.sweepMs = positiveMs(options.sweepIntervalMs ?? 1000, "sweepIntervalMs");
    this.commandTimeoutMs = positiveMs(options.commandTimeoutMs ?? 3000, "commandTimeoutMs");
    if (options.prefix !== undefined && (typeof options.prefix !== "string" || options.prefix.length === 0))
      throw new InvalidOptionError("prefix", "must be a non-empty string");
  }

  /** Where it connects, credentials masked (contract `target`). */
  get target(): string {
    const c = this.options.client;
    if (c instanceof Cluster) return "redis cluster (given client)";
    if (c)
      return `redis://${c.options.host ?? "?"}:${c.options.port ?? "?"}/${c.options.db ?? 0} (given client)`;
    return maskUrl(this.options.url ?? process.env.REDIS_URL ?? DEFAULT_URL);
  }

  /** The key prefix in use (after `start`). */
  get keyPrefix(): string {
    return this.keys ? this.keys.seq.slice(0, -"seq".length) : "";
  }

  async start(ctx: ComponentContext): Promise<void> {
    if (this.started) return;
    this.seenGen = -1;
    this.logger = ctx.logger.child({ component: "broker", broker: this.name });
    const prefix = this.options.prefix
      ? hasHashTag(this.options.prefix)
        ? this.options.prefix
        : `${this.options.prefix}{${ctx.appName}}:`
      : `qtasks:{${ctx.appName}}:broker:`;
    const k = (name: string) => `${prefix}${name}`;
    this.keys = {
      seq: k("seq"),
      ready: k("ready"),
      delayed: k("delayed"),
      lease: k("lease"),
      msg: k("msg"),
      dc: k("dc"),
      dead: k("dead"),
      deadinfo: k("deadinfo"),
      wake: k("wake"),
      dgen: k("dgen"),
    };
    const connectionName = this.options.connectionName ?? `qtasks-broker-${ctx.appName}`;
    let main: AnyClient;
    if (this.options.client) {
      main = this.options.client;
      this.ownsMain = false;
      // A lazy client (lazyConnect) would otherwise wait forever for a first command.
      if (main.status === "wait") main.connect().catch(() => undefined);
      if (main instanceof Cluster) {
        this.where = "Redis Cluster";
        this.secrets = secretsOf(undefined, main.options.redisOptions?.password);
      } else {
        this.where = `${main.options.host ?? "?"}:${main.options.port ?? "?"}`;
        this.secrets = secretsOf(undefined, main.options.password);
      }
    } else {
      const url = this.options.url ?? process.env.REDIS_URL ?? DEFAULT_URL;
      this.where = maskUrl(url);
      this.secrets = secretsOf(url, this.options.redis?.password);
      main = new Redis(url, {
        connectionName,
        // Fail fast instead of queueing: callers wait for "ready" themselves, with a deadline.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: backoff,
        ...this.options.redis,
      });
      // Commands of one turn go out in one write, and batches overlap (see coalesceWrites).
      if (!main.options.enableAutoPipelining) coalesceWrites(main);
      this.ownsMain = true;
    }
    for (const [name, numberOfKeys, lua] of SCRIPTS) defineScript(main, name, lua, numberOfKeys);
    this.main = main as ScriptClient;
    const blockName = `${main instanceof Redis && !this.options.client ? (main.options.connectionName ?? connectionName) : connectionName}:block`;
    this.blocking =
      main instanceof Cluster
        ? main.duplicate(undefined, {
            enableOfflineQueue: false,
            clusterRetryStrategy: backoff,
            enableAutoPipelining: false,
            lazyConnect: false,
            redisOptions: {
              ...main.options.redisOptions,
              connectionName: blockName,
              maxRetriesPerRequest: 0,
            },
          })
        : main.duplicate({
            connectionName: blockName,
            enableOfflineQueue: false,
            maxRetriesPerRequest: 0,
            retryStrategy: backoff,
            enableAutoPipelining: false,
            lazyConnect: false,
          });
    this.watch(main, "main");
    this.watch(this.blocking, "blocking");
    this.started = true;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.wakeAll();
    for (const h of [...this.stopHooks]) h();
    this.readyHooks.clear();
    const blocking = this.blocking;
    const main = this.main;
    this.blocking = undefined;
    blocking?.disconnect();
    const unwatch = this.unwatch;
    this.unwatch = [];
    if (this.ownsMain && main) {
      try {
        if (main.status === "ready") await main.quit();
        else main.disconnect();
      } catch {
        main.disconnect();
      }
    }
    for (const u of unwatch) u();
    // Our own connections may still report a late socket error: keep it from going unhandled.
    blocking?.on("error", () => undefined);
    if (this.ownsMain) main?.on("error", () => undefined);
  }

  async publish(messages: PublishMessage[]): Promise<void> {
    if (!Array.isArray(messages)) throw new InvalidOptionError("messages", "must be an array");
    if (messages.length === 0) {
      this.client("publish");
      return;
    }
    await this.publishArgs("publish", encodeMessages(messages));
  }

  /**
   * Writes raw bytes where an envelope would be, as a foreign producer could: a test helper for the
   * malformed-input paths. The bytes are decoded (and dead-lettered as `malformed`) at claim.
   */
  async injectRaw(raw: string | Uint8Array, priority = 0): Promise<void> {
    validatePriority(priority);
    const bytes = typeof raw === "string" ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    await this.publishArgs("injectRaw", [1, MAX_PRIORITY - priority, 0, bytes]);
  }

  async claim(max: number, options: ClaimOptions): Promise<Delivery[]> {
    return this.claimWith(max, options, (m) => this.claimOnce(m));
  }

  /**
   * The claim loop: one claim round trip (`once`), then, if nothing was ready, a wait for a wake-up
   * (or the next due delay, or a sweep), up to `waitSeconds`. Lost connections are waited out.
   */
  private async claimWith<T>(
    max: number,
    options: ClaimOptions,
    once: (max: number) => Promise<{ deliveries: T[]; waitMs: number; malformed: number }>,
  ): Promise<T[]> {
    this.client("claim");
    if (!Number.isInteger(max) || max < 0)
      throw new InvalidOptionError("max", `must be an integer >= 0, got ${String(max)}`);
    const waitMs = validateSeconds(options.waitSeconds, "waitSeconds") * 1000;
    const deadline = Date.now() + waitMs;
    const signal = options.signal;
    for (;;) {
      if (signal?.aborted || !this.started) return [];
      const main = this.main!;
      if (main.status !== "ready") {
        // Connecting or reconnecting: ioredis retries on its own; wait for it, up to the deadline.
        const left = deadline - Date.now();
        if (left <= 0) return [];
        await this.waitReady(main, Math.min(left, this.sweepMs), signal);
        continue;
      }
      let batch: { deliveries: T[]; waitMs: number; malformed: number };
      try {
        batch = await once(Math.min(max, CLAIM_LIMIT));
      } catch (error) {
        if (!this.started) return [];
        if (isReplyError(error))
          throw new RedisBrokerCommandError("claim failed", { cause: this.safeError(error) });
        // Connection trouble: workers never fail on it; wait for the reconnect and go on.
        this.noteDown("main", error);
        const left = deadline - Date.now();
        if (left <= 0) return [];
        await this.waitReady(this.main!, Math.min(left, this.sweepMs), signal);
        continue;
      }
      if (batch.deliveries.length > 0) return batch.deliveries;
      if (batch.malformed > 0) continue;
      const left = deadline - Date.now();
      if (left <= 0 || max === 0) return [];
      if (batch.waitMs === 0) continue;
      let bound = Math.min(left, this.sweepMs);
      // +1 ms: the timer must not fire a hair before the delay is due on the server clock.
      if (batch.waitMs > 0) bound = Math.min(bound, batch.waitMs + 1);
      await this.waitForWake(bound, signal);
    }
  }

  async extendLease(delivery: Delivery): Promise<boolean> {
    const t = parseToken(delivery.token);
    if (!t) return false;
    this.client("extendLease");
    return this.batched(this.extendBatch, { token: delivery.token, id: t.id });
  }

  async ack(delivery: Delivery): Promise<boolean> {
    const t = parseToken(delivery.token);
    if (!t) return false;
    this.client("ack");
    return this.batched(this.ackBatch, { token: delivery.token, id: t.id });
  }

  async release(delivery: Delivery, options?: { delay?: number }): Promise<boolean> {
    const t = parseToken(delivery.token);
    if (!t) return false;
    const delay =
      options?.delay === undefined || options.delay === 0 ? 0 : validateSeconds(options.delay, "delay");
    const k = this.keys;
    const r = await this.op(
      "release",
      (c) =>
        c.qtasksBrokerRelease(
          k.lease,
          k.ready,
          k.delayed,
          k.wake,
          k.dgen,
          delivery.token,
          t.id,
          Math.round(delay * 1000),
        ),
      true,
    );
    return r === 1;
  }

  async deadLetter(delivery: Delivery, reason: string): Promise<boolean> {
    const t = parseToken(delivery.token);
    if (!t) return false;
    const info = `e${JSON.stringify({ reason: String(reason), at: Date.now() })}`;
    const r = await this.op("deadLetter", (c) => this.deadLetterCall(c, [delivery.token, t.id, info]), true);
    return r === 1;
  }

  async listDeadLetters(options?: { limit?: number }): Promise<DeadLetter[]> {
    const limit = options?.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 0)
      throw new InvalidOptionError("limit", `must be an integer >= 0, got ${String(limit)}`);
    if (limit === 0) return [];
    const rows = await this.deadPage(0, limit);
    return rows.map((r) => r.letter);
  }

  async redriveDeadLetters(ids?: string[]): Promise<number> {
    const wanted = ids ? new Set(ids) : undefined;
    if (wanted && wanted.size === 0) return 0;
    const internal: string[] = [];
    const page = 1000;
    for (let offset = 0; ; offset += page) {
      const rows = await this.deadPage(offset, page);
      for (const r of rows)
        if (r.letter.envelope && (!wanted || wanted.has(r.letter.id))) internal.push(r.id);
      if (rows.length < page) break;
    }
    let n = 0;
    const k = this.keys;
    for (let i = 0; i < internal.length; i += page) {
      const chunk = internal.slice(i, i + page);
      n += await this.op("redriveDeadLetters", (c) =>
        c.qtasksBrokerRedrive(k.dead, k.deadinfo, k.msg, k.ready, k.seq, k.wake, ...chunk),
      );
    }
    return n;
  }

  async stats(): Promise<BrokerStats> {
    const k = this.keys;
    const r = await this.op("stats", (c) => c.qtasksBrokerStats(k.ready, k.delayed, k.lease, k.dead), true);
    const ready: Record<number, number> = {};
    for (let i = 3; i + 1 < r.length; i += 2) ready[MAX_PRIORITY - Number(r[i])] = Number(r[i + 1]);
    return { ready, delayed: Number(r[0]), inFlight: Number(r[1]), deadLetters: Number(r[2]) };
  }

  /**
   * Fused operations with a `RedisStorage` on the same Redis server and database whose key prefix
   * has the same hash tag (the defaults do): add + publish, claim + begin and finish + ack each run
   * as one script, so each is one atomic step and one round trip (see `FusedOperations`). Anything
   * else (another storage, another server, a Redis Cluster client) answers `undefined`.
   */
  fuse(storage: Storage): FusedOperations | undefined {
    if (!this.started || !(this.main instanceof Redis)) return undefined;
    const surface = storageFusionOf(storage);
    if (!surface || !sameEndpoint(this.main, surface.client)) return undefined;
    const tag = hashTagOf(this.keyPrefix);
    if (tag === undefined || tag !== hashTagOf(surface.prefix)) return undefined;
    const main = this.main;
    defineScript(main, "qtasksFusedEnqueue", fusedEnqueueScript(surface.scripts.add));
    defineScript(main, "qtasksFusedClaimBegin", fusedClaimBeginScript(surface.scripts.beginMany));
    defineScript(main, "qtasksFusedFinishAck", fusedFinishAckScript(surface.scripts.finishMany));
    // The storage part of every claim-and-begin call: beginMany's fixed head, then the task key prefix.
    const head = surface.beginHead();
    const begin = { keys: head.keys, args: [...head.args, head.taskPrefix] };
    this.logger.debug("fused with the Redis storage", { prefix: surface.prefix });
    return {
      enqueue: (records, messages) => this.fusedEnqueue(surface, records, messages),
      claimAndBegin: (max, options) =>
        this.claimWith(max, options, (m) => this.fusedClaimOnce(surface, begin, m)),
      finishAndAck: (delivery, attempt, outcome) => {
        const t = parseToken(delivery.token);
        if (!t) return Promise.resolve(false);
        this.client("finishAndAck");
        return new Promise<boolean>((resolve, reject) => {
          this.finishBatch.push({
            uuid: delivery.envelope.uuid,
            attempt,
            outcome,
            token: delivery.token,
            id: t.id,
            resolve,
            reject,
          });
          if (this.finishBatch.length === 1) process.nextTick(() => this.flushFinish(surface));
        });
      },
    };
  }

  // --- internals ---------------------------------------------------------------------------------

  private client(what: string): ScriptClient {
    if (!this.started || !this.main) throw new NotStartedError(`RedisBroker.${what} before start()`);
    return this.main;
  }

  private async publishArgs(what: string, args: Arg[]): Promise<void> {
    const k = this.keys;
    await this.op(what, (c) =>
      c.qtasksBrokerPublish(k.seq, k.ready, k.delayed, k.msg, k.wake, k.dgen, ...args),
    );
  }

  /** Storage add + publish per chunk, every chunk in the same write; publish's fail-fast rules. */
  private async fusedEnqueue(
    surface: StorageFusion,
    records: NewTaskRecord[],
    messages: PublishMessage[],
  ): Promise<void> {
    if (!Array.isArray(records) || !Array.isArray(messages))
      throw new InvalidOptionError("records", "records and messages must be arrays");
    const k = this.keys;
    const brokerKeys = [k.seq, k.ready, k.delayed, k.msg, k.wake, k.dgen];
    // Encode everything before any I/O: a value that cannot be stored or published rejects first.
    const calls: Arg[][] = [];
    const total = Math.max(records.length, messages.length);
    for (let i = 0; i < total; i += FUSED_ENQUEUE_CHUNK) {
      const store = surface.addCall(records.slice(i, i + FUSED_ENQUEUE_CHUNK));
      calls.push(fusedArgs(store, brokerKeys, encodeMessages(messages.slice(i, i + FUSED_ENQUEUE_CHUNK))));
    }
    if (calls.length === 0) {
      this.client("enqueue");
      return;
    }
    await this.op("enqueue", (c) => Promise.all(calls.map((args) => c.qtasksFusedEnqueue(...args))));
  }

  /** One claim-and-begin round trip: a claim, and each claimed record begun in the same script. */
  private async fusedClaimOnce(
    surface: StorageFusion,
    begin: { keys: string[]; args: Arg[] },
    max: number,
  ): Promise<{ deliveries: BegunDelivery[]; waitMs: number; malformed: number }> {
    const c = this.main!;
    const [claimed, begins] = await c.qtasksFusedClaimBeginBuffer(
      ...fusedArgs(begin, this.claimKeys(), this.claimArgs(max)),
    );
    const parsed = await this.parseClaim(c, claimed);
    const deliveries: BegunDelivery[] = parsed.deliveries.map(({ delivery, at }) => {
      const reply = plainReply(begins[at]);
      // An item error ({-1, message}) or no record (0): the worker begins it itself and sees why.
      if (reply === 0 || (Array.isArray(reply) && reply[0] === -1)) return { delivery };
      try {
        const begun = surface.decodeBegin(delivery.envelope.uuid, reply);
        return begun ? { delivery, begun } : { delivery };
      } catch {
        return { delivery };
      }
    });
    return { deliveries, waitMs: parsed.waitMs, malformed: parsed.malformed };
  }

  /** Sends the tick's finish-and-ack items, up to FUSED_FINISH_LIMIT per script call. Not resent
   * after a lost connection (the worker hands the task back; its redelivery finds it final). */
  private flushFinish(surface: StorageFusion): void {
    const items = this.finishBatch.splice(0);
    const k = this.keys;
    for (let i = 0; i < items.length; i += FUSED_FINISH_LIMIT) {
      const chunk = items.slice(i, i + FUSED_FINISH_LIMIT);
      let args: Arg[];
      try {
        const acks: Arg[] = [];
        for (const x of chunk) acks.push(x.token, x.id);
        args = fusedArgs(surface.finishCall(chunk), [k.lease, k.msg, k.dc], acks);
      } catch (error) {
        for (const x of chunk) x.reject(error);
        continue;
      }
      this.op("finishAndAck", (c) => c.qtasksFusedFinishAck(...args)).then(
        (res) => {
          for (let j = 0; j < chunk.length; j++) {
            const r = res[j];
            if (Array.isArray(r) && Number(r[0]) === -1)
              chunk[j]!.reject(
                new RedisBrokerCommandError(`finishAndAck failed: ${this.scrub(String(r[1]))}`),
              );
            else chunk[j]!.resolve(Number(r) === 1);
          }
        },
        (error: unknown) => {
          for (const x of chunk) x.reject(error);
        },
      );
    }
  }

  private deadLetterCall(c: ScriptClient, triples: Arg[]): Promise<number> {
    const k = this.keys;
    return c.qtasksBrokerDeadLetter(k.lease, k.dead, k.deadinfo, k.msg, k.dc, k.seq, ...triples);
  }

  /**
   * One-shot operation with a deadline: waits for the connection (a reconnect in progress is not a
   * failure), then runs `fn`; no answer in `commandTimeoutMs` rejects with `RedisUnavailableError`.
   * With `retry`, a command lost with its connection is sent again once the connection is back
   * (within the same deadline): for the lease operations, whose second run is harmless (a repeat
   * finds the token gone and answers `false`). `publish` is never repeated: it fails fast instead.
   */
  private async op<T>(
    what: string,
    fn: (c: ScriptClient, resend: boolean) => Promise<T>,
    retry = false,
  ): Promise<T> {
    const c = this.client(what);
    const deadline = Date.now() + this.commandTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      if (c.status !== "ready" && !(await this.waitReady(c, Math.max(1, deadline - Date.now())))) {
        const last = this.lastError ? ` (last error: ${this.lastError})` : "";
        throw new RedisUnavailableError(
          `${what}: no connection to Redis at ${this.where} within ${this.commandTimeoutMs} ms${last}`,
        );
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new RedisUnavailableError(
                `${what}: Redis at ${this.where} did not answer within ${this.commandTimeoutMs} ms`,
              ),
            ),
          Math.max(1, deadline - Date.now()),
        );
      });
      try {
        return await Promise.race([fn(c, attempt > 0), timeout]);
      } catch (error) {
        if (error instanceof QTasksError) throw error;
        if (isReplyError(error))
          throw new RedisBrokerCommandError(`${what} failed: ${this.scrub(errorText(error))}`, {
            cause: this.safeError(error),
          });
        if (retry && this.started && Date.now() < deadline) {
          // Give the client a moment to notice the loss (status leaves "ready") before resending.
          await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
          continue;
        }
        throw new RedisUnavailableError(`${what}: connection to Redis at ${this.where} failed`, {
          cause: this.safeError(error),
        });
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /**
   * Queues a token operation; everything queued in the same tick goes out as one script call (a
   * worker finishing 50 tasks from one burst of replies acks them in one round trip and one Lua
   * call). Each caller still gets its own answer.
   */
  private batched(batch: TokenBatch, item: { token: string; id: string }): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      batch.items.push({ ...item, resolve, reject });
      if (batch.items.length === 1) process.nextTick(() => this.flush(batch));
    });
  }

  private flush(batch: TokenBatch): void {
    const items = batch.items.splice(0);
    const k = this.keys;
    const leaseMs = Math.round(this.leaseSeconds * 1000);
    for (let i = 0; i < items.length; i += TOKEN_BATCH_LIMIT) {
      const chunk = items.slice(i, i + TOKEN_BATCH_LIMIT);
      const call =
        batch.kind === "ack"
          ? this.op(
              "ack",
              (c, resend) =>
                c.qtasksBrokerAck(
                  k.lease,
                  k.msg,
                  k.dc,
                  resend ? 1 : 0,
                  ...chunk.flatMap((x) => [x.token, x.id]),
                ),
              true,
            )
          : this.op(
              "extendLease",
              (c) => c.qtasksBrokerExtend(k.lease, leaseMs, ...chunk.map((x) => x.token)),
              true,
            );
      call.then(
        (res) => {
          for (let j = 0; j < chunk.length; j++) chunk[j]!.resolve(Number(res[j]) === 1);
        },
        (error: unknown) => {
          for (const x of chunk) x.reject(error);
        },
      );
    }
  }

  /** One claim round trip, plus the dead-lettering of any malformed entries it found. */
  private async claimOnce(
    max: number,
  ): Promise<{ deliveries: Delivery[]; waitMs: number; malformed: number }> {
    const c = this.main!;
    const reply = await c.qtasksBrokerClaimBuffer(...this.claimKeys(), ...this.claimArgs(max));
    const parsed = await this.parseClaim(c, reply);
    return {
      deliveries: parsed.deliveries.map((x) => x.delivery),
      waitMs: parsed.waitMs,
      malformed: parsed.malformed,
    };
  }

  private claimKeys(): string[] {
    const k = this.keys;
    return [k.ready, k.delayed, k.lease, k.msg, k.dc, k.seq, k.wake, k.dgen];
  }

  private claimArgs(max: number): Arg[] {
    return [max, Math.round(this.leaseSeconds * 1000), SWEEP_LIMIT, this.seenGen];
  }

  /**
   * Reads a claim reply: the wait hint, the schedule generation, then token and raw envelope pairs.
   * Malformed envelopes are dead-lettered here; each delivery keeps its position in the reply.
   */
  private async parseClaim(
    c: ScriptClient,
    reply: [number, number, ...Buffer[]],
  ): Promise<{ deliveries: { delivery: Delivery; at: number }[]; waitMs: number; malformed: number }> {
    const waitMs = Number(reply[0]);
    this.seenGen = Math.max(this.seenGen, Number(reply[1]));
    const deliveries: { delivery: Delivery; at: number }[] = [];
    const bad: Arg[] = [];
    for (let i = 2; i + 1 < reply.length; i += 2) {
      const token = (reply[i] as Buffer).toString("latin1");
      const raw = reply[i + 1] as Buffer;
      const t = parseToken(token)!;
      let envelope: TaskEnvelope;
      try {
        envelope = decodeEnvelope(raw);
      } catch (error) {
        const detail = error instanceof MalformedMessageError ? error.message : "malformed";
        // Logged once: the entry leaves the queue right below and is never claimed again.
        this.logger.warn("dead-lettered a malformed message", { reason: detail, bytes: raw.length });
        bad.push(token, t.id, `m${JSON.stringify({ reason: "malformed", detail, at: Date.now() })}`);
        continue;
      }
      deliveries.push({ delivery: { envelope, deliveryCount: t.count, token }, at: (i - 2) / 2 });
    }
    if (bad.length > 0) {
      try {
        await this.deadLetterCall(c, bad);
      } catch (error) {
        // The lease expires and the entry comes back; it is dead-lettered on that claim instead.
        this.logger.warn("could not dead-letter a malformed message yet", {
          error: this.scrub(errorText(error)),
        });
      }
    }
    return { deliveries, waitMs, malformed: bad.length / 3 };
  }

  /**
   * Resolves after `ms`, on a wake-up from a publish (through the blocking connection), on abort or
   * on stop, whichever comes first.
   */
  private waitForWake(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
      this.waiters.add(done);
      if (!this.blockLoopRunning) void this.blockLoop();
    });
  }

  private wakeAll(): void {
    for (const w of [...this.waiters]) w();
  }

  /**
   * While someone waits, block on the wake list with BLPOP on the broker's own connection. A token
   * wakes every local waiter (each re-runs the claim script; the script passes the word on to other
   * processes when work is left). A token nobody here needs any more is pushed back for others.
   */
  private async blockLoop(): Promise<void> {
    this.blockLoopRunning = true;
    try {
      while (this.started && this.waiters.size > 0) {
        const b = this.blocking;
        if (!b) break;
        if (b.status !== "ready") {
          await this.waitReady(b, this.sweepMs);
          continue;
        }
        let got: [string, string] | null;
        try {
          got = await b.blpop(this.keys.wake, this.sweepMs / 1000);
        } catch (error) {
          if (!this.started) break;
          if (isReplyError(error)) {
            // Redis answered with an error (say, the wake key was overwritten with another type):
            // not a lost connection, so do not spin; the waiters' own timers keep claims going.
            this.logger.warn("blocking wait failed", { error: this.scrub(errorText(error)) });
            await new Promise((r) => setTimeout(r, this.sweepMs));
            continue;
          }
          this.noteDown("blocking", error);
          await this.waitReady(b, this.sweepMs);
          continue;
        }
        if (got && this.waiters.size === 0) {
          const m = this.main;
          if (m?.status === "ready")
            await m
              .multi()
              .lpush(this.keys.wake, "1")
              .ltrim(this.keys.wake, 0, 0)
              .exec()
              .catch(() => undefined);
        } else {
          // A token or the sweep tick: waiters re-run the claim (which also sweeps expired leases).
          this.wakeAll();
        }
      }
    } finally {
      this.blockLoopRunning = false;
    }
  }

  /** Resolves true once `client` is ready, false after `ms` (or on abort / stop). */
  private waitReady(client: AnyClient, ms: number, signal?: AbortSignal): Promise<boolean> {
    if (client.status === "ready") return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      let hooks = this.readyHooks.get(client);
      if (!hooks) {
        hooks = new Set();
        this.readyHooks.set(client, hooks);
      }
      const set = hooks;
      const finish = () => {
        clearTimeout(timer);
        set.delete(finish);
        this.stopHooks.delete(finish);
        signal?.removeEventListener("abort", finish);
        resolve(client.status === "ready");
      };
      const timer = setTimeout(finish, ms);
      // One "ready" listener per client (see watch) calls these, however many calls wait.
      set.add(finish);
      this.stopHooks.add(finish);
      signal?.addEventListener("abort", finish, { once: true });
    });
  }

  private watch(client: AnyClient, role: "main" | "blocking"): void {
    const onError = (error: unknown) => this.noteDown(role, error);
    const onReady = () => {
      const wasDown = role === "main" ? this.mainDown : this.blockingDown;
      if (role === "main") this.mainDown = false;
      else this.blockingDown = false;
      if (wasDown) this.logger.info("reconnected to Redis", { connection: role, redis: this.where });
      for (const h of [...(this.readyHooks.get(client) ?? [])]) h();
      // Work may have arrived while we were away: let waiters look at once.
      this.wakeAll();
    };
    client.on("error", onError);
    client.on("ready", onReady);
    // A client we were given outlives the broker: take our listeners off it at stop.
    this.unwatch.push(() => {
      client.off("error", onError);
      client.off("ready", onReady);
    });
  }

  /** Logs a lost connection once per outage (ioredis keeps reconnecting on its own). */
  private noteDown(role: "main" | "blocking", error: unknown): void {
    if (!this.started) return;
    this.lastError = this.scrub(errorText(error));
    if (role === "main" ? this.mainDown : this.blockingDown) return;
    if (role === "main") this.mainDown = true;
    else this.blockingDown = true;
    this.logger.warn("lost the connection to Redis; reconnecting", {
      connection: role,
      redis: this.where,
      error: this.lastError,
    });
  }

  private scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join("***");
    return out;
  }

  /** A copy of a driver error with its name and scrubbed message only (no command arguments). */
  private safeError(error: unknown): Error {
    const e = new Error(this.scrub(errorText(error)));
    e.name = error instanceof Error ? error.name : "Error";
    return e;
  }

  private async deadPage(offset: number, count: number): Promise<{ id: string; letter: DeadLetter }[]> {
    const k = this.keys;
    const rows = await this.op(
      "listDeadLetters",
      (c) => c.qtasksBrokerListDead(k.dead, k.deadinfo, k.msg, offset, count),
      true,
    );
    const out: { id: string; letter: DeadLetter }[] = [];
    for (let i = 0; i + 2 < rows.length; i += 3) {
      const id = rows[i]!;
      const info = rows[i + 1]!;
      const raw = rows[i + 2]!;
      let meta: { reason?: unknown; at?: unknown } = {};
      try {
        meta = JSON.parse(info.slice(1)) as typeof meta;
      } catch {
        // Unreadable bookkeeping: still list the entry.
      }
      const reason = typeof meta.reason === "string" ? meta.reason : "unknown";
      const deadLetteredAt = new Date(typeof meta.at === "number" ? meta.at : 0);
      let envelope: TaskEnvelope | undefined;
      if (info.startsWith("e")) {
        try {
          envelope = decodeEnvelope(raw);
        } catch {
          envelope = undefined;
        }
      }
      out.push({
        id,
        letter: envelope
          ? { envelope, reason, deadLetteredAt, id: envelope.uuid }
          : { raw: truncateUtf8(raw, 1024), reason, deadLetteredAt, id: `malformed-${id}` },
      });
    }
    return out;
  }
}

/**
 * The arguments of a fused script call (see `scripts.ts`): numkeys, the storage part's KEYS, the
 * broker's KEYS, the storage part's KEYS and ARGV counts, its ARGV, then the broker's ARGV.
 */
function fusedArgs(store: { keys: string[]; args: Arg[] }, brokerKeys: string[], brokerArgs: Arg[]): Arg[] {
  return [
    store.keys.length + brokerKeys.length,
    ...store.keys,
    ...brokerKeys,
    store.keys.length,
    store.args.length,
    ...store.args,
    ...brokerArgs,
  ];
}

/** PUBLISH's ARGV for these messages: n, then band, delay in ms and the encoded envelope of each. */
function encodeMessages(messages: PublishMessage[]): Arg[] {
  const args: Arg[] = [messages.length];
  for (const m of messages) {
    const priority = validatePriority(m.envelope.priority, "envelope.priority");
    const delay = m.delay === undefined || m.delay === 0 ? 0 : validateSeconds(m.delay, "delay");
    args.push(MAX_PRIORITY - priority, Math.round(delay * 1000), encodeEnvelope(m.envelope));
  }
  return args;
}

function positiveMs(value: unknown, option: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0)
    throw new InvalidOptionError(option, `must be a positive number of milliseconds, got ${String(value)}`);
  return value;
}

/** The longest prefix of `s` made of whole characters that is at most `maxBytes` of UTF-8. */
function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s, "utf8") <= maxBytes) return s;
  let bytes = 0;
  let end = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, "utf8");
    if (bytes + n > maxBytes) break;
    bytes += n;
    end += ch.length;
  }
  return s.slice(0, end);
}

function secretsOf(url: string | undefined, password: string | undefined): string[] {
  const out = new Set<string>();
  if (password) out.add(password);
  if (url) {
    try {
      const u = new URL(url);
      // A username alone can be the secret (as maskUrl assumes for redis URLs).
      const part = u.password || u.username;
      if (part) {
        out.add(part);
        out.add(decodeURIComponent(part));
      }
    } catch {
      // Not a URL: ioredis will fail on it too; maskUrl already hides it.
    }
  }
  return [...out].filter((s) => s.length > 0);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
