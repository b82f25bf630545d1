import { randomUUID } from "node:crypto";
import {
  type Broker,
  type BrokerStats,
  type ClaimOptions,
  type ComponentContext,
  ConnectionError,
  type DeadLetter,
  type Delivery,
  decodeEnvelope,
  encodeEnvelope,
  InvalidOptionError,
  type Logger,
  MalformedMessageError,
  maskUrl,
  NotStartedError,
  type PublishMessage,
  silentLogger,
  type TaskEnvelope,
  validateSeconds,
} from "@qtasks/core";
import {
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  connect,
  type Message,
  type Options,
} from "amqplib";
import { AckBatcher } from "./ack-batcher";
import { PublishNackedError, PublishUnroutableError } from "./errors";
import { DEFAULT_MAX_PRIORITY, priorityLevel, validateMaxPriority } from "./priority";

export type RabbitMQQueueType = "classic" | "quorum";

export interface RabbitMQBrokerOptions {
  /** AMQP URL. Default `AMQP_URL`, else `amqp://guest:guest@127.0.0.1:5672`. Ignored with `connection`. */
  url?: string;
  /**
   * An existing amqplib connection. The broker opens its channels on it and never closes it; if it
   * closes, the broker cannot reopen it and reports `ConnectionError` until it is replaced.
   */
  connection?: ChannelModel;
  /** Main queue name. Default `qtasks.<appName>`. The dead-letter queue is `<queue>.dead`. */
  queue?: string;
  /** `"classic"` (default): priorities. `"quorum"`: replicated, FIFO only on RabbitMQ 3.10. */
  queueType?: RabbitMQQueueType;
  /** RabbitMQ priority levels above 0 (1..255, default 10). See `priorityLevel` for the mapping. */
  maxPriority?: number;
  /** Seconds a claimed delivery stays held without `extendLease` before it is released. Default 60. */
  leaseSeconds?: number;
  /** Claims after which the worker dead-letters a task. Default 5. */
  deliveryLimit?: number;
  /**
   * Quorum queues only: the queue's `x-delivery-limit`, RabbitMQ's own backstop (its dead letters are
   * listed with reason `delivery-limit`). Must be above `deliveryLimit`. Default `max(100, 2 * deliveryLimit)`.
   */
  quorumDeliveryLimit?: number;
  /** AMQP heartbeat in seconds (0 disables). Default 30. */
  heartbeat?: number;
  /** Longest wait for a publish confirm, reconnections included, in seconds. Default 30. */
  publishTimeout?: number;
  /** Reconnect backoff in seconds: from `initialDelay` doubling up to `maxDelay`. Default 0.1 and 10. */
  reconnect?: { initialDelay?: number; maxDelay?: number };
  /**
   * The server's `consumer_timeout` in seconds (RabbitMQ's default 1800). RabbitMQ closes a channel
   * whose delivery stays unacked longer; the broker warns when a running task gets close to it.
   */
  consumerTimeout?: number;
  /** Shown in the RabbitMQ management UI and `rabbitmqctl list_connections`. Default `qtasks <queue>`. */
  connectionName?: string;
}

// Headers the broker owns. Everything else in a message is left as it was published.
const H_DELIVERIES = "x-qtasks-deliveries";
const H_NOT_BEFORE = "x-qtasks-not-before";
const H_REASON = "x-qtasks-reason";
const H_DETAIL = "x-qtasks-detail";
const H_DEAD_AT = "x-qtasks-dead-lettered-at";
const H_MALFORMED = "x-qtasks-malformed";

const CONTENT_TYPE = "application/json";
// The longest TTL a delay queue gets; longer delays hop through it again (x-qtasks-not-before).
const MAX_DELAY_TTL_MS = 24 * 24 * 3600 * 1000;
// A delay queue vanishes this long after its last declaration (publishes do not count as use).
const DELAY_QUEUE_GRACE_MS = 10 * 60 * 1000;
// Re-declare a delay queue before publishing when our last declaration is older than this.
const DELAY_REDECLARE_MS = 60 * 1000;
// How long a higher prefetch is kept after the worker last claimed that much capacity.
const PREFETCH_WINDOW_MS = 5000;
// Early arrivals (clock skew, rounding) within this are treated as due.
const NOT_BEFORE_SLACK_MS = 20;

interface Session {
  gen: number;
  pubConn: ChannelModel;
  consConn: ChannelModel;
  /** Connections this session opened (closed when it dies); empty with a user connection. */
  owned: ChannelModel[];
  pub: ConfirmChannel;
  cons: Channel;
  alive: boolean;
  consumerTag?: string;
  /** Prefetch currently applied to the consumer (global qos on classic queues). */
  prefetch: number;
  /** The largest held + asked of the claims since `windowStart` (classic queues). */
  windowMax: number;
  windowStart: number;
  /** Unacked deliveries of consumers cancelled earlier (quorum: they do not count against the new one). */
  returnedIds: Set<string>;
  /** Delay queues declared on this session: when, and the declaration itself. */
  delayDeclared: Map<number, { at: number; promise: Promise<void> }>;
  consumerOp: Promise<void>;
  /** The consumer channel's acks, sent together once per turn (see AckBatcher). */
  acks: AckBatcher<ConsumeMessage>;
  ackFlush?: NodeJS.Immediate;
}

interface Buffered {
  session: Session;
  msg: ConsumeMessage;
  envelope: TaskEnvelope;
  count: number;
  seq: number;
}

interface Held {
  session: Session;
  msg: ConsumeMessage;
  delivery: Delivery;
  timer: NodeJS.Timeout;
  claimedAt: number;
  warned?: boolean;
}

/**
 * A qtasks broker on RabbitMQ (3.10 and later) through amqplib.
 *
 * Topology (all durable, declared by `start`): the main queue `<queue>` (classic with
 * `x-max-priority`, or quorum with `x-delivery-limit`), the dead-letter queue `<queue>.dead`, and
 * per-delay TTL queues `<queue>.delay.<ms>` that dead-letter into the main queue and expire when
 * unused. Messages are persistent and published through the default exchange with `mandatory` on a
 * confirm channel. Consumption is a push consumer with manual acks whose prefetch follows what the
 * worker asks `claim` for; see README.md for the guarantees.
 */
export class RabbitMQBroker implements Broker {
  readonly name = "rabbitmq";
  readonly leaseSeconds: number;
  readonly deliveryLimit: number;
  readonly queueType: RabbitMQQueueType;
  readonly maxPriority: number;

  private readonly options: RabbitMQBrokerOptions;
  private readonly url: string;
  private readonly heartbeat: number;
  private readonly publishTimeoutMs: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly consumerTimeoutMs: number;
  private readonly quorumDeliveryLimit: number;
  private queueName = "";
  private logger: Logger = silentLogger;

  private started = false;
  private session: Session | undefined;
  private connecting: Promise<Session> | undefined;
  private gen = 0;
  private userConnectionClosed = false;
  private readonly stopController = new Set<() => void>();

  private buffer: Buffered[] = [];
  private readonly held = new Map<string, Held>();
  /** Deliveries on the consumer channel being forwarded or dead-lettered (unacked, not handed out). */
  private internal = 0;
  private seq = 0;
  private pubSeq = 0;
  private waiters = new Set<() => void>();
  private readonly pending = new Set<Promise<unknown>>();
  private consumeWanted = 0;
  /**
   * Copies republished in place of a delivery whose ack is not sent yet, by message id. The copy can
   * reach the consumer before the publish confirm does; it waits until the original is acked, or a
   * crash right then would leave both in the queue.
   */
  private readonly replacing = new Map<string, Promise<void>>();
  private warnedTimeout = false;

  constructor(options: RabbitMQBrokerOptions = {}) {
    this.options = options;
    this.url = options.url ?? process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
    this.leaseSeconds = validateSeconds(options.leaseSeconds ?? 60, "leaseSeconds", 24 * 3600);
    if (this.leaseSeconds <= 0) throw new InvalidOptionError("leaseSeconds", "must be above 0");
    const limit = options.deliveryLimit ?? 5;
    if (!Number.isInteger(limit) || limit < 1)
      throw new InvalidOptionError("deliveryLimit", `must be an integer >= 1, got ${String(limit)}`);
    this.deliveryLimit = limit;
    this.queueType = options.queueType ?? "classic";
    if (this.queueType !== "classic" && this.queueType !== "quorum")
      throw new InvalidOptionError(
        "queueType",
        `must be "classic" or "quorum", got ${String(this.queueType)}`,
      );
    this.maxPriority = validateMaxPriority(options.maxPriority ?? DEFAULT_MAX_PRIORITY);
    this.heartbeat = validateSeconds(options.heartbeat ?? 30, "heartbeat", 3600);
    this.publishTimeoutMs = validateSeconds(options.publishTimeout ?? 30, "publishTimeout", 3600) * 1000;
    this.initialDelayMs =
      validateSeconds(options.reconnect?.initialDelay ?? 0.1, "reconnect.initialDelay") * 1000;
    this.maxDelayMs = validateSeconds(options.reconnect?.maxDelay ?? 10, "reconnect.maxDelay") * 1000;
    const backstop = options.quorumDeliveryLimit ?? Math.max(100, limit * 2);
    if (!Number.isInteger(backstop) || backstop <= limit)
      throw new InvalidOptionError(
        "quorumDeliveryLimit",
        `must be an integer above deliveryLimit (${limit})`,
      );
    this.quorumDeliveryLimit = backstop;
    this.consumerTimeoutMs = validateSeconds(options.consumerTimeout ?? 1800, "consumerTimeout") * 1000;
    if (options.queue !== undefined) this.queueName = validateQueueName(options.queue);
  }

  /** The main queue's name (known once started, or given in the options). */
  get queue(): string {
    return this.queueName;
  }

  /** Where the broker connects, credentials masked, and its queue once known (logs, `qtasks run`). */
  get target(): string {
    const where = this.options.connection ? "amqp (given connection)" : maskUrl(this.url);
    return this.queueName ? `${where} queue ${this.queueName}` : where;
  }

  /** The dead-letter queue's name. */
  get deadLetterQueue(): string {
    return `${this.queueName}.dead`;
  }

  async start(ctx: ComponentContext): Promise<void> {
    if (this.started) return;
    if (!this.queueName) this.queueName = validateQueueName(`qtasks.${ctx.appName}`);
    this.logger = ctx.logger.child({ component: "broker", broker: this.name, queue: this.queueName });
    this.started = true;
    this.userConnectionClosed = false;
    // A given connection's errors are its owner's to handle; the broker only watches it close.
    this.options.connection?.on("close", this.onUserConnectionClose);
    try {
      this.session = await this.openSession();
    } catch (error) {
      this.started = false;
      this.options.connection?.off("close", this.onUserConnectionClose);
      throw error instanceof ConnectionError ? error : this.connectionError("cannot connect", error);
    }
  }

  private readonly onUserConnectionClose = (): void => {
    this.userConnectionClosed = true;
    if (this.session) this.lose(this.session, new Error("the connection given in the options closed"));
    // A reconnect loop waiting on its backoff gives up now rather than after it.
    for (const cancel of [...this.stopController]) cancel();
  };

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.options.connection?.off("close", this.onUserConnectionClose);
    this.wake();
    for (const cancel of this.stopController) cancel();
    // Publishes in flight settle first: a stopped broker leaves nothing hanging.
    await Promise.allSettled([...this.pending]);
    for (const h of this.held.values()) clearTimeout(h.timer);
    this.held.clear();
    this.buffer = [];
    const s = this.session;
    this.session = undefined;
    // Acks queued this turn go out before the channel closes.
    if (s?.alive) this.flushAcks(s);
    if (s) await this.closeSession(s);
    await this.connecting?.catch(() => undefined);
  }

  // --- publishing --------------------------------------------------------------------------------

  async publish(messages: PublishMessage[]): Promise<void> {
    if (!this.started) throw new NotStartedError("RabbitMQBroker.publish before start()");
    const prepared = messages.map((m) => {
      const delay = m.delay ? validateSeconds(m.delay, "delay") : 0;
      return {
        content: Buffer.from(encodeEnvelope(m.envelope)),
        priority: m.envelope.priority,
        taskName: m.envelope.taskName,
        delayMs: Math.round(delay * 1000),
      };
    });
    const deadline = Date.now() + this.publishTimeoutMs;
    // Everything goes out back to back; then all confirms are awaited together. A blocked
    // connection (resource alarm) holds confirms back: the deadline still settles the call.
    const all = Promise.all(
      prepared.map((p) =>
        this.publishReliably(
          p.content,
          this.messageProps(p.priority, p.taskName, 0, p.delayMs > 0 ? Date.now() + p.delayMs : undefined),
          p.delayMs,
          deadline,
        ),
      ),
    );
    await this.track(
      beforeDeadline(all, deadline, () =>
        this.connectionError("not confirmed within publishTimeout (some messages may be queued)", undefined),
      ),
    );
  }

  /** Publishes bytes as a foreign producer would (tests of malformed input). Confirmed. */
  async publishRaw(content: Buffer, properties: Options.Publish = {}): Promise<void> {
    if (!this.started) throw new NotStartedError("RabbitMQBroker.publishRaw before start()");
    const s = await this.sessionBefore(Date.now() + this.publishTimeoutMs);
    const r = await this.sendConfirmed(s, this.queueName, content, { ...properties });
    if (r === "returned") throw new PublishUnroutableError(this.queueName);
  }

  private messageProps(
    priority: number,
    taskName: string,
    deliveries: number,
    notBefore: number | undefined,
  ): Options.Publish {
    const headers: Record<string, unknown> = { [H_DELIVERIES]: deliveries };
    if (notBefore !== undefined) headers[H_NOT_BEFORE] = notBefore;
    return {
      contentType: CONTENT_TYPE,
      priority: priorityLevel(priority, this.maxPriority),
      type: taskName,
      headers,
    };
  }

  /**
   * Publishes to the main queue (or to a delay queue) and resolves on the confirm. A channel that dies
   * before the confirm is retried on the next connection until the deadline: the message may then be
   * queued twice, which at-least-once allows (the worker skips records that are already final).
   */
  private async publishReliably(
    content: Buffer,
    props: Options.Publish,
    delayMs: number,
    deadline: number,
  ): Promise<void> {
    let redeclared = false;
    for (;;) {
      const s = await this.sessionBefore(deadline);
      let queue = this.queueName;
      try {
        if (delayMs > 0) queue = await this.delayQueue(s, Math.min(delayMs, MAX_DELAY_TTL_MS));
        const r = await this.sendConfirmed(s, queue, content, props);
        if (r === "ok") return;
        // A delay queue can vanish between our declaration and the publish (x-expires, or deleted by
        // hand): declare it again once.
        if (delayMs > 0 && !redeclared) {
          redeclared = true;
          s.delayDeclared.delete(Math.min(delayMs, MAX_DELAY_TTL_MS));
          continue;
        }
        throw new PublishUnroutableError(queue);
      } catch (error) {
        if (
          error instanceof PublishNackedError ||
          error instanceof PublishUnroutableError ||
          error instanceof ConnectionError
        )
          throw error;
        this.lose(s, error);
        if (!this.started) throw this.connectionError("stopped before the publish was confirmed", error);
        if (Date.now() >= deadline)
          throw this.connectionError("the publish was not confirmed before publishTimeout", error);
      }
    }
  }

  /** One publish on one session's confirm channel: `"returned"` when RabbitMQ could not route it. */
  private sendConfirmed(
    s: Session,
    queue: string,
    content: Buffer,
    props: Options.Publish,
  ): Promise<"ok" | "returned"> {
    const messageId = `${s.gen}.${++this.pubSeq}`;
    const p = new Promise<"ok" | "returned">((resolve, reject) => {
      if (!s.alive) {
        reject(new Error("channel closed"));
        return;
      }
      try {
        s.pub.publish(
          "",
          queue,
          content,
          { ...props, messageId: props.messageId ?? messageId, persistent: true, mandatory: true },
          (err: unknown) => {
            const id = props.messageId ?? messageId;
            const returned = s.returnedIds.delete(id);
            if (err) {
              if (err instanceof Error && err.message === "message nacked")
                reject(new PublishNackedError(queue, { cause: err }));
              else reject(err);
            } else resolve(returned ? "returned" : "ok");
          },
        );
      } catch (error) {
        reject(error);
      }
    });
    return this.track(p);
  }

  /** Declares (or re-declares, so it does not expire) the TTL queue for `ms` and returns its name. */
  private async delayQueue(s: Session, ms: number): Promise<string> {
    const name = `${this.queueName}.delay.${ms}`;
    let d = s.delayDeclared.get(ms);
    if (!d || Date.now() - d.at > DELAY_REDECLARE_MS) {
      // One declaration at a time per delay, however many messages of a bulk publish wait for it.
      const promise = s.pub
        .assertQueue(name, {
          durable: true,
          arguments: {
            "x-message-ttl": ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": this.queueName,
            // Safe: every publisher re-declares at least every minute, and a message waits `ms` at most.
            "x-expires": ms + DELAY_QUEUE_GRACE_MS,
          },
        })
        .then(() => undefined);
      d = { at: Date.now(), promise };
      s.delayDeclared.set(ms, d);
      promise.catch(() => {
        if (s.delayDeclared.get(ms) === d) s.delayDeclared.delete(ms);
      });
    }
    await d.promise;
    return name;
  }

  // --- claiming ----------------------------------------------------------------------------------

  async claim(max: number, options: ClaimOptions): Promise<Delivery[]> {
    if (!this.started) throw new NotStartedError("RabbitMQBroker.claim before start()");
    if (!Number.isInteger(max) || max < 1) return [];
    const deadline = Date.now() + Math.max(0, options.waitSeconds) * 1000;
    const signal = options.signal;
    this.consumeWanted = max;
    let firstPass = true;
    for (;;) {
      const s = this.session;
      let fresh = false;
      if (s?.alive) {
        try {
          fresh = await this.ensureConsumer(s, max);
        } catch (error) {
          this.lose(s, error);
        }
      }
      // A fresh consumer or a raised prefetch makes RabbitMQ push a burst over a few ms: let it land,
      // so that it is claimed (and ordered by priority) as one batch. Otherwise one turn of the event
      // loop lets the frames already read be handled.
      if (firstPass && this.buffer.length < max) await (fresh ? this.settleBurst(max) : nextTurn());
      firstPass = false;
      const out = this.take(max);
      if (out.length > 0) return out;
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted || !this.started) return [];
      if (await this.waitForWork(left, signal)) await nextTurn();
    }
  }

  /** Waits while deliveries keep arriving (a gap of 2 ms ends it), 25 ms at most. */
  private async settleBurst(max: number): Promise<void> {
    await new Promise((r) => setImmediate(r));
    const end = Date.now() + 25;
    let last = this.buffer.length;
    while (this.buffer.length < max && Date.now() < end && this.started) {
      await new Promise((r) => setTimeout(r, 2));
      if (this.buffer.length === last) return;
      last = this.buffer.length;
    }
  }

  private waitForWork(ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const done = (woke: boolean) => {
        clearTimeout(t);
        signal?.removeEventListener("abort", onAbort);
        this.waiters.delete(onWake);
        resolve(woke);
      };
      const onWake = () => done(true);
      const onAbort = () => done(false);
      const t = setTimeout(() => done(false), ms);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.add(onWake);
    });
  }

  private wake(): void {
    const w = [...this.waiters];
    this.waiters.clear();
    for (const fn of w) fn();
  }

  /**
   * Keeps one consumer on the main queue whose prefetch is what the worker holds plus what it asks
   * for, so RabbitMQ never pushes more than the worker's free capacity. Classic queues take a
   * channel-wide (global) qos that can be changed in place. Quorum queues refuse global qos and a
   * per-consumer prefetch cannot be changed without re-consuming, so there it only grows.
   */
  private ensureConsumer(s: Session, max: number): Promise<boolean> {
    const op = s.consumerOp.then(async (): Promise<boolean> => {
      if (!s.alive) return false;
      const holding = this.heldOn(s);
      const target = Math.min(65535, holding + max);
      if (this.queueType === "classic") {
        if (!s.consumerTag) {
          await s.cons.prefetch(target, true);
          s.prefetch = target;
          await this.consume(s);
          return true;
        }
        // Raise at once; lower to the largest capacity seen over the last window. Between its ack and
        // the worker counting its slot free a task is in neither count, so held + asked dips below the
        // worker's capacity whenever several tasks end together: following each dip would cost a qos
        // round trip per claim and save nothing.
        const now = Date.now();
        s.windowMax = Math.max(s.windowMax, target);
        let next = s.prefetch;
        if (target > s.prefetch) next = target;
        else if (now - s.windowStart >= PREFETCH_WINDOW_MS) {
          next = s.windowMax;
          s.windowMax = target;
          s.windowStart = now;
        }
        const raised = next > s.prefetch;
        if (next !== s.prefetch) {
          s.prefetch = next;
          // Not awaited: the qos frame goes before anything we send later on this channel.
          s.cons.prefetch(next, true).catch((error: unknown) => this.lose(s, error));
        }
        // A raise lets RabbitMQ push a burst: the claim lets it land.
        return raised;
      }
      if (s.consumerTag && s.prefetch >= target) return false;
      const buffered = this.bufferedOn(s);
      if (s.consumerTag && buffered >= max) return false;
      if (s.consumerTag) {
        await s.cons.cancel(s.consumerTag);
        s.consumerTag = undefined;
      }
      // Deliveries of the cancelled consumer still count against what the worker asked for.
      await s.cons.prefetch(Math.max(1, max - buffered), false);
      s.prefetch = target;
      await this.consume(s);
      return true;
    });
    s.consumerOp = op.then(
      () => undefined,
      () => undefined,
    );
    return op;
  }

  private async consume(s: Session): Promise<void> {
    const { consumerTag } = await s.cons.consume(
      this.queueName,
      (msg) => {
        if (msg) s.acks.delivered(msg.fields.deliveryTag);
        this.onMessage(s, msg);
      },
      { noAck: false },
    );
    s.consumerTag = consumerTag;
  }

  /** Unacked deliveries of the session's consumer channel that the worker holds (or we forward). */
  private heldOn(s: Session): number {
    let n = this.internal;
    for (const h of this.held.values()) if (h.session === s) n++;
    return n;
  }

  private bufferedOn(s: Session): number {
    let n = 0;
    for (const b of this.buffer) if (b.session === s) n++;
    return n;
  }

  private onMessage(s: Session, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The server cancelled the consumer (queue deleted or failed over): start over.
      this.lose(s, new Error("the consumer was cancelled by RabbitMQ"));
      return;
    }
    if (!s.alive) return;
    const pending =
      typeof msg.properties.messageId === "string" && this.replacing.get(msg.properties.messageId);
    if (pending) {
      void pending.then(() => this.onMessage(s, msg));
      return;
    }
    const headers = msg.properties.headers ?? {};
    let envelope: TaskEnvelope;
    try {
      envelope = this.decode(msg);
    } catch (error) {
      void this.deadLetterMalformed(s, msg, error);
      return;
    }
    const notBefore = asNumber(headers[H_NOT_BEFORE]);
    if (notBefore !== undefined && notBefore - Date.now() > NOT_BEFORE_SLACK_MS) {
      // A delay longer than one TTL hop: wait again for the rest.
      void this.forward(s, msg, asCount(headers[H_DELIVERIES]), notBefore);
      return;
    }
    const prior = asCount(headers[H_DELIVERIES]);
    if (this.queueType === "classic" && msg.fields.redelivered) {
      // A classic queue does not count deliveries: record this one in the message, then take the copy.
      void this.forward(s, msg, prior + 1, undefined);
      return;
    }
    const native = this.queueType === "quorum" ? asCount(headers["x-delivery-count"]) : 0;
    this.buffer.push({ session: s, msg, envelope, count: prior + native + 1, seq: this.seq++ });
    this.wake();
  }

  private decode(msg: Message): TaskEnvelope {
    const type = msg.properties.contentType;
    if (type !== undefined && type !== CONTENT_TYPE && !String(type).startsWith(`${CONTENT_TYPE};`))
      throw new MalformedMessageError(`content type ${JSON.stringify(String(type).slice(0, 100))}`);
    const enc = msg.properties.contentEncoding;
    if (enc !== undefined && !/^(identity|utf-?8)$/i.test(String(enc)))
      throw new MalformedMessageError(`content encoding ${JSON.stringify(String(enc).slice(0, 100))}`);
    return decodeEnvelope(msg.content);
  }

  /** Republishes a copy (with its delivery count, or on to the next delay hop) and acks the original. */
  private async forward(
    s: Session,
    msg: ConsumeMessage,
    deliveries: number,
    notBefore?: number,
  ): Promise<void> {
    this.internal++;
    const done = this.replacement();
    try {
      const headers: Record<string, unknown> = {
        ...(msg.properties.headers ?? {}),
        [H_DELIVERIES]: deliveries,
      };
      delete headers["x-death"];
      delete headers["x-delivery-count"];
      const props: Options.Publish = {
        contentType: msg.properties.contentType,
        priority: msg.properties.priority,
        type: msg.properties.type,
        messageId: done.id,
        headers,
      };
      let queue = this.queueName;
      if (notBefore !== undefined) {
        const ms = Math.min(MAX_DELAY_TTL_MS, Math.max(1, Math.round(notBefore - Date.now())));
        queue = await this.delayQueue(s, ms);
      }
      const r = await this.sendConfirmed(s, queue, msg.content, props);
      if (r === "returned") throw new PublishUnroutableError(queue);
      if (s.alive) {
        this.ackNow(s, msg);
        // amqplib writes frames on a later tick; a round trip on the channel proves the ack reached
        // RabbitMQ before the copy may run (a crash in between would otherwise leave both queued).
        await s.cons.checkQueue(this.queueName).catch(() => undefined);
      }
    } catch (error) {
      this.logger.warn("could not requeue a redelivered message; RabbitMQ will deliver it again", {
        error: describe(error),
      });
      if (s.alive) this.nack(s, msg, true);
    } finally {
      done.settle();
      this.internal--;
    }
  }

  /** A message id for a copy, registered in `replacing` until `settle` (after the original's ack). */
  private replacement(): { id: string; settle: () => void } {
    const id = `copy-${randomUUID()}`;
    let settle!: () => void;
    this.replacing.set(
      id,
      new Promise<void>((r) => {
        settle = () => {
          this.replacing.delete(id);
          r();
        };
      }),
    );
    return { id, settle };
  }

  private async deadLetterMalformed(s: Session, msg: ConsumeMessage, error: unknown): Promise<void> {
    this.internal++;
    const detail = error instanceof MalformedMessageError ? error.message : describe(error);
    try {
      this.logger.warn("dead-lettered a malformed message", { reason: "malformed", detail });
      const r = await this.sendConfirmed(s, this.deadLetterQueue, msg.content, {
        contentType: msg.properties.contentType,
        messageId: `malformed-${randomUUID()}`,
        headers: {
          [H_REASON]: "malformed",
          [H_DETAIL]: detail,
          [H_DEAD_AT]: Date.now(),
          [H_MALFORMED]: true,
        },
      });
      if (r === "returned") throw new PublishUnroutableError(this.deadLetterQueue);
      if (s.alive) this.ackNow(s, msg);
    } catch (err) {
      // Without a dead-letter queue to take it, reject it so RabbitMQ's own dead-lettering moves it.
      this.logger.error("could not dead-letter a malformed message", { error: describe(err) });
      if (s.alive) this.nack(s, msg, false);
    } finally {
      this.internal--;
    }
  }

  private take(max: number): Delivery[] {
    if (this.buffer.length === 0) return [];
    // Highest priority first (the exact core priority, finer than RabbitMQ's levels), then arrival.
    this.buffer.sort((a, b) => b.envelope.priority - a.envelope.priority || a.seq - b.seq);
    const picked = this.buffer.splice(0, max);
    const out: Delivery[] = [];
    for (const b of picked) {
      if (!b.session.alive) continue;
      const token = `${b.session.gen}:${b.msg.fields.deliveryTag}`;
      const delivery: Delivery = { envelope: b.envelope, deliveryCount: b.count, token };
      const timer = setTimeout(() => this.expire(token), this.leaseSeconds * 1000);
      timer.unref();
      this.held.set(token, { session: b.session, msg: b.msg, delivery, timer, claimedAt: Date.now() });
      out.push(delivery);
    }
    return out;
  }

  /** The lease ran out (the worker neither renewed nor settled it): hand the message back to RabbitMQ. */
  private expire(token: string): void {
    const h = this.held.get(token);
    if (!h) return;
    this.held.delete(token);
    this.logger.warn("lease expired; the task is deliverable again", { uuid: h.delivery.envelope.uuid });
    if (h.session.alive) this.nack(h.session, h.msg, true);
  }

  /** Takes a held delivery out of the lease table; undefined when it is stale. */
  private settle(delivery: Delivery): Held | undefined {
    const h = this.held.get(delivery.token);
    if (!h) return undefined;
    this.held.delete(delivery.token);
    clearTimeout(h.timer);
    // A delivery of a channel that is gone is never acked: its tag means nothing on a new channel.
    return h.session.alive ? h : undefined;
  }

  /** Queues the ack for the end of this turn (see AckBatcher); the session must be alive. */
  private queueAck(s: Session, msg: ConsumeMessage): void {
    s.acks.ack(msg.fields.deliveryTag, msg);
    s.ackFlush ??= setImmediate(() => this.flushAcks(s));
  }

  /** Sends the queued acks; a session that died meanwhile drops them (RabbitMQ redelivers). */
  private flushAcks(s: Session): void {
    if (s.ackFlush) clearImmediate(s.ackFlush);
    s.ackFlush = undefined;
    const frames = s.acks.take();
    if (!s.alive) return;
    for (const [msg, multiple] of frames) if (!safely(() => s.cons.ack(msg, multiple))) return;
  }

  /** An ack sent at once (its caller relies on it having gone out), recorded for the batcher. */
  private ackNow(s: Session, msg: ConsumeMessage): boolean {
    s.acks.settledElsewhere(msg.fields.deliveryTag);
    return safely(() => s.cons.ack(msg));
  }

  private nack(s: Session, msg: ConsumeMessage, requeue: boolean): boolean {
    s.acks.settledElsewhere(msg.fields.deliveryTag);
    return safely(() => s.cons.nack(msg, false, requeue));
  }

  async extendLease(delivery: Delivery): Promise<boolean> {
    const h = this.held.get(delivery.token);
    if (!h?.session.alive) return false;
    h.timer.refresh();
    const age = Date.now() - h.claimedAt;
    if (!h.warned && age > this.consumerTimeoutMs * 0.8) {
      h.warned = true;
      this.logger.warn(
        "a task has been running close to RabbitMQ's consumer_timeout; when it passes, RabbitMQ closes the channel and redelivers every unacked task on it (raise consumer_timeout on the server, see the README)",
        { uuid: h.delivery.envelope.uuid, runningSeconds: Math.round(age / 1000) },
      );
    }
    return true;
  }

  async ack(delivery: Delivery): Promise<boolean> {
    const h = this.settle(delivery);
    if (!h) return false;
    this.queueAck(h.session, h.msg);
    return true;
  }

  async release(delivery: Delivery, options?: { delay?: number }): Promise<boolean> {
    const delay = options?.delay ? validateSeconds(options.delay, "delay") : 0;
    const h = this.settle(delivery);
    if (!h) return false;
    if (delay <= 0) {
      // Back into the queue; the redelivery counts this claim (redelivered flag / x-delivery-count).
      return this.nack(h.session, h.msg, true);
    }
    const ms = Math.round(delay * 1000);
    const env = h.delivery.envelope;
    const done = this.replacement();
    try {
      const queue = await this.delayQueue(h.session, Math.min(ms, MAX_DELAY_TTL_MS));
      const props = this.messageProps(env.priority, env.taskName, h.delivery.deliveryCount, Date.now() + ms);
      props.messageId = done.id;
      const r = await this.sendConfirmed(h.session, queue, h.msg.content, props);
      if (r === "returned") throw new PublishUnroutableError(queue);
      return h.session.alive && this.ackNow(h.session, h.msg);
    } catch (error) {
      if (error instanceof PublishNackedError || error instanceof PublishUnroutableError) {
        if (h.session.alive) this.nack(h.session, h.msg, true);
        throw error;
      }
      return false;
    } finally {
      done.settle();
    }
  }

  async deadLetter(delivery: Delivery, reason: string): Promise<boolean> {
    const h = this.settle(delivery);
    if (!h) return false;
    try {
      const r = await this.sendConfirmed(h.session, this.deadLetterQueue, h.msg.content, {
        contentType: CONTENT_TYPE,
        priority: h.msg.properties.priority,
        type: h.delivery.envelope.taskName,
        messageId: h.delivery.envelope.uuid,
        headers: {
          [H_REASON]: String(reason).slice(0, 1000),
          [H_DEAD_AT]: Date.now(),
          [H_DELIVERIES]: h.delivery.deliveryCount,
        },
      });
      if (r === "returned") throw new PublishUnroutableError(this.deadLetterQueue);
    } catch (error) {
      if (error instanceof PublishNackedError || error instanceof PublishUnroutableError) {
        if (h.session.alive) this.nack(h.session, h.msg, true);
        throw error;
      }
      // The channel died: RabbitMQ delivers the original again. The copy may be in the dead-letter
      // queue already; a second one is possible, never none.
      return false;
    }
    return h.session.alive && this.ackNow(h.session, h.msg);
  }

  // --- dead letters and stats ----------------------------------------------------------------------

  async listDeadLetters(options?: { limit?: number }): Promise<DeadLetter[]> {
    const limit = Math.max(0, Math.floor(options?.limit ?? 100));
    const s = await this.requireSession();
    const ch = await s.pubConn.createChannel();
    ch.on("error", () => undefined);
    const out: DeadLetter[] = [];
    const held: Message[] = [];
    try {
      while (out.length < limit) {
        const m = await ch.get(this.deadLetterQueue, { noAck: false });
        if (!m) break;
        held.push(m);
        out.push(toDeadLetter(m));
      }
    } finally {
      await putBack(ch, held);
    }
    return out;
  }

  async redriveDeadLetters(ids?: string[]): Promise<number> {
    const wanted = ids ? new Set(ids) : undefined;
    const s = await this.requireSession();
    const ch = await s.pubConn.createChannel();
    ch.on("error", () => undefined);
    let n = 0;
    const kept: Message[] = [];
    try {
      const moves: Promise<void>[] = [];
      for (;;) {
        const m = await ch.get(this.deadLetterQueue, { noAck: false });
        if (!m) break;
        const d = toDeadLetter(m);
        if (!d.envelope || (wanted && !wanted.has(d.id))) {
          kept.push(m);
          continue;
        }
        const env = d.envelope;
        moves.push(
          this.publishReliably(
            m.content,
            this.messageProps(env.priority, env.taskName, 0, undefined),
            0,
            Date.now() + this.publishTimeoutMs,
          ).then(() => {
            if (safely(() => ch.ack(m))) n++;
          }),
        );
      }
      await Promise.all(moves);
    } finally {
      await putBack(ch, kept);
    }
    return n;
  }

  async stats(): Promise<BrokerStats> {
    const s = await this.requireSession();
    let main: { messageCount: number };
    let dead: { messageCount: number };
    try {
      main = await s.pub.checkQueue(this.queueName);
      dead = await s.pub.checkQueue(this.deadLetterQueue);
    } catch (error) {
      // A queue deleted under us closes the channel; the broker reconnects and declares it again.
      throw this.connectionError("cannot read the queue depths", error);
    }
    // RabbitMQ does not report depth by priority: the whole ready depth is reported under 0. What
    // this broker prefetched but nobody claimed yet is still ready (other processes' is not known).
    const depth = main.messageCount + this.bufferedOn(s);
    const ready: Record<number, number> = depth > 0 ? { 0: depth } : {};
    return { ready, deadLetters: dead.messageCount };
  }

  // --- connections ---------------------------------------------------------------------------------

  private connectionName(role: string): string {
    return `${this.options.connectionName ?? `qtasks ${this.queueName}`} (${role}, pid ${process.pid})`;
  }

  private connectUrl(): string {
    try {
      const u = new URL(this.url);
      if (!u.searchParams.has("heartbeat")) u.searchParams.set("heartbeat", String(this.heartbeat));
      return u.toString();
    } catch {
      return this.url;
    }
  }

  private async openSession(): Promise<Session> {
    const gen = ++this.gen;
    const owned: ChannelModel[] = [];
    let pubConn: ChannelModel;
    let consConn: ChannelModel;
    try {
      if (this.options.connection) {
        if (this.userConnectionClosed)
          throw this.connectionError("the connection given in the options is closed", undefined);
        pubConn = this.options.connection;
        consConn = pubConn;
      } else {
        // Two connections: RabbitMQ blocks a publishing connection under a resource alarm, and the
        // consumer's acks must still get through then.
        const url = this.connectUrl();
        pubConn = await connect(url, {
          clientProperties: { connection_name: this.connectionName("publish") },
        });
        owned.push(pubConn);
        consConn = await connect(url, {
          clientProperties: { connection_name: this.connectionName("consume") },
        });
        owned.push(consConn);
      }
      const pub = await pubConn.createConfirmChannel();
      const cons = await consConn.createChannel();
      const s: Session = {
        gen,
        pubConn,
        consConn,
        owned,
        pub,
        cons,
        alive: true,
        prefetch: 0,
        windowMax: 0,
        windowStart: Date.now(),
        returnedIds: new Set(),
        delayDeclared: new Map(),
        consumerOp: Promise.resolve(),
        acks: new AckBatcher(),
      };
      for (const c of owned) {
        c.on("error", (e: Error) => this.lose(s, e));
        c.on("close", (e?: Error) => this.lose(s, e ?? new Error("connection closed")));
        // A resource alarm (memory, disk) holds publishes back until RabbitMQ unblocks the connection.
        c.on("blocked", (reason: string) => this.logger.warn("RabbitMQ blocked the connection", { reason }));
        c.on("unblocked", () => this.logger.info("RabbitMQ unblocked the connection"));
      }
      for (const ch of [pub, cons] as Channel[]) {
        ch.on("error", (e: Error) => this.lose(s, e));
        ch.on("close", () => this.lose(s, new Error("channel closed")));
      }
      pub.on("return", (m: Message) => {
        if (typeof m.properties.messageId === "string") s.returnedIds.add(m.properties.messageId);
      });
      await this.declare(pub);
      if (this.consumeWanted > 0) await this.ensureConsumer(s, this.consumeWanted);
      return s;
    } catch (error) {
      for (const c of owned) await c.close().catch(() => undefined);
      throw error instanceof ConnectionError ? error : this.connectionError("cannot connect", error);
    }
  }

  private async declare(ch: Channel): Promise<void> {
    // Classic even next to a quorum queue: a quorum queue puts a message read and put back behind the
    // others, and listing dead letters oldest first needs them to keep their place. The worker has
    // recorded every dead-lettered task in storage, so this copy is for inspection and re-drive.
    await ch.assertQueue(this.deadLetterQueue, { durable: true });
    const args: Record<string, unknown> = {
      // Whatever RabbitMQ dead-letters itself (quorum delivery limit, rejects) lands there too.
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": this.deadLetterQueue,
    };
    if (this.queueType === "quorum") {
      args["x-queue-type"] = "quorum";
      // A far backstop against a message that loops forever: the worker dead-letters at
      // deliveryLimit itself, with a reason and a final record, and the broker must keep delivering
      // past deliveryLimit until it does. Fixed (not derived from deliveryLimit) so that tuning
      // deliveryLimit does not change the queue's arguments.
      args["x-delivery-limit"] = this.quorumDeliveryLimit;
    } else args["x-max-priority"] = this.maxPriority;
    await ch.assertQueue(this.queueName, { durable: true, arguments: args });
  }

  /** Marks a session dead (once), drops what it held, and reconnects while the broker runs. */
  private lose(s: Session, error: unknown): void {
    if (!s.alive) return;
    s.alive = false;
    if (this.session === s) this.session = undefined;
    const text = describe(error);
    if (/acknowledgement timed out/i.test(text) && !this.warnedTimeout) {
      this.warnedTimeout = true;
      this.logger.error(
        "RabbitMQ closed the channel: a delivery stayed unacked longer than its consumer_timeout. Raise consumer_timeout on the server for tasks that run that long (see the README).",
        { error: text },
      );
    } else if (this.started) this.logger.warn("RabbitMQ connection lost; reconnecting", { error: text });
    // Buffered and held deliveries of this channel go back to the queue on RabbitMQ's side.
    this.buffer = this.buffer.filter((b) => b.session !== s);
    for (const [token, h] of this.held) {
      if (h.session === s) {
        clearTimeout(h.timer);
        this.held.delete(token);
      }
    }
    void this.closeSession(s);
    if (this.started) void this.ensureSession().catch(() => undefined);
  }

  private async closeSession(s: Session): Promise<void> {
    s.alive = false;
    if (s.owned.length === 0) {
      for (const ch of [s.cons, s.pub] as Channel[]) await ch.close().catch(() => undefined);
      return;
    }
    // The consumer channel first, with its close handshake: RabbitMQ applies the acks sent before a
    // channel.close, but a connection.close right behind them can stop the channel before it does
    // (seen here: acks flushed by stop() lost, their tasks delivered again).
    await s.cons.close().catch(() => undefined);
    for (const c of s.owned) await c.close().catch(() => undefined);
  }

  private ensureSession(): Promise<Session> {
    if (this.session?.alive) return Promise.resolve(this.session);
    if (!this.connecting) {
      this.connecting = this.reconnectLoop().finally(() => {
        this.connecting = undefined;
      });
    }
    return this.connecting;
  }

  private async reconnectLoop(): Promise<Session> {
    for (let attempt = 0; ; attempt++) {
      if (!this.started) throw new NotStartedError("RabbitMQBroker stopped");
      try {
        const s = await this.openSession();
        if (!this.started) {
          await this.closeSession(s);
          throw new NotStartedError("RabbitMQBroker stopped");
        }
        this.session = s;
        this.logger.info("RabbitMQ connection restored", { attempts: attempt + 1 });
        this.wake();
        return s;
      } catch (error) {
        if (error instanceof NotStartedError) throw error;
        if (this.userConnectionClosed) throw error;
        const base = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** Math.min(attempt, 30));
        const wait = base / 2 + (Math.random() * base) / 2;
        if (attempt < 3 || attempt % 10 === 0)
          this.logger.warn("RabbitMQ reconnect failed; retrying", {
            error: describe(error),
            inMs: Math.round(wait),
          });
        await this.sleep(wait);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.stopController.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.stopController.add(done);
    });
  }

  /** The live session, waiting for a reconnection until `deadline`. */
  private async sessionBefore(deadline: number): Promise<Session> {
    const s = this.session;
    if (s?.alive) return s;
    if (!this.started) throw new NotStartedError("RabbitMQBroker is stopped");
    const left = deadline - Date.now();
    if (left <= 0) throw this.connectionError("not connected", undefined);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.ensureSession(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(this.connectionError("not connected within publishTimeout", undefined)),
            left,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private requireSession(): Promise<Session> {
    if (!this.started) return Promise.reject(new NotStartedError("RabbitMQBroker is not started"));
    return this.sessionBefore(Date.now() + this.publishTimeoutMs);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    const forget = () => this.pending.delete(p);
    p.then(forget, forget);
    return p;
  }

  private connectionError(message: string, cause: unknown): ConnectionError {
    // amqplib errors can quote the URL; keep only a masked form.
    const where = this.options.connection ? "given connection" : maskUrl(this.url);
    const why = cause === undefined ? "" : `: ${scrub(describe(cause), this.url)}`;
    return new ConnectionError(
      "rabbitmq",
      `${message} (${where})${why}`,
      cause === undefined ? undefined : { cause },
    );
  }
}

// --- helpers ---------------------------------------------------------------------------------------

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/** `p`, or the error of `onTimeout` once `deadline` (ms since the epoch) has passed. */
async function beforeDeadline<T>(p: Promise<T>, deadline: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), Math.max(0, deadline - Date.now()));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function validateQueueName(name: string): string {
  // AMQP short strings are at most 255 bytes; ".delay.<ms>" and ".dead" are appended.
  if (
    typeof name !== "string" ||
    name.length === 0 ||
    Buffer.byteLength(name) > 200 ||
    name.startsWith("amq.")
  )
    throw new InvalidOptionError("queue", "a queue name is 1-200 bytes and does not start with amq.");
  return name;
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

function asCount(v: unknown): number {
  const n = asNumber(v);
  return n !== undefined && Number.isInteger(n) && n >= 0 && n < 1e9 ? n : 0;
}

/**
 * Returns messages read with `basic.get` to their queue, oldest first, and closes the channel (one nack
 * each, in order, so that they keep their places).
 */
async function putBack(ch: Channel, messages: Message[]): Promise<void> {
  for (const m of messages) if (!safely(() => ch.nack(m, false, true))) break;
  await ch.close().catch(() => undefined);
}

/** At most `bytes` bytes of UTF-8 text, cut on a character boundary. */
function truncateUtf8(buf: Buffer, bytes: number): string {
  if (buf.length <= bytes) return buf.toString("utf8");
  let end = bytes;
  // Back off continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString("utf8");
}

function safely(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

function scrub(text: string, url: string): string {
  try {
    const u = new URL(url);
    if (u.password) return text.split(u.password).join("***").split(url).join(maskUrl(url));
  } catch {
    // not a URL: nothing we can recognise in the text
  }
  return text.split(url).join(maskUrl(url));
}

const X_DEATH_REASONS: Record<string, string> = {
  delivery_limit: "delivery-limit",
  rejected: "rejected",
  expired: "expired",
  maxlen: "max-length",
};

/** Reads a dead-letter queue message: ours (headers) or one RabbitMQ dead-lettered itself (x-death). */
function toDeadLetter(m: Message): DeadLetter {
  const headers: Record<string, unknown> = m.properties.headers ?? {};
  const deaths = headers["x-death"];
  const death = Array.isArray(deaths) ? (deaths[0] as Record<string, unknown> | undefined) : undefined;
  const nativeReason =
    typeof death?.reason === "string" ? (X_DEATH_REASONS[death.reason] ?? death.reason) : undefined;
  const reason =
    typeof headers[H_REASON] === "string" ? (headers[H_REASON] as string) : (nativeReason ?? "unknown");
  const at = asNumber(headers[H_DEAD_AT]);
  const deathTime = death?.time;
  const deathSeconds =
    asNumber(deathTime) ?? asNumber((deathTime as { value?: unknown } | undefined)?.value) ?? undefined;
  const deadLetteredAt =
    at !== undefined ? new Date(at) : deathSeconds !== undefined ? new Date(deathSeconds * 1000) : new Date();
  const rawText = () => truncateUtf8(m.content, 1024);
  const fallbackId =
    typeof m.properties.messageId === "string" ? m.properties.messageId : `dead-${randomUUID()}`;
  if (headers[H_MALFORMED] === true) return { raw: rawText(), reason, deadLetteredAt, id: fallbackId };
  try {
    const envelope = decodeEnvelope(m.content);
    return { envelope, reason, deadLetteredAt, id: envelope.uuid };
  } catch {
    return {
      raw: rawText(),
      reason: headers[H_REASON] ? reason : "malformed",
      deadLetteredAt,
      id: fallbackId,
    };
  }
}
