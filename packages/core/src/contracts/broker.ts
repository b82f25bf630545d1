import type { ComponentContext } from "./component";
import type { NewTaskRecord, TaskEnvelope } from "./record";
import type { BeginResult, FinalOutcome, Storage } from "./storage";

/** One envelope to publish, with its own delay. */
export interface PublishMessage {
  envelope: TaskEnvelope;
  /** Seconds before the envelope becomes claimable (0 or absent: now). */
  delay?: number;
}

/** Options of `Broker.claim`. */
export interface ClaimOptions {
  /** Longest time to block waiting for the first envelope, in seconds. `0` returns at once. */
  waitSeconds: number;
  /** Aborting it makes a blocked `claim` return `[]` promptly. */
  signal?: AbortSignal;
}

/**
 * One claimed envelope, held under a lease (or an unacked delivery) until it is acked, released or
 * dead-lettered. The broker owns everything but `envelope`; the worker passes the object back as is.
 */
export interface Delivery {
  readonly envelope: TaskEnvelope;
  /** How many times this envelope has been claimed, this claim included (counted at claim time). */
  readonly deliveryCount: number;
  /** The broker's opaque handle for this claim (lease id, delivery tag, ...). */
  readonly token: string;
}

/** Depths for `qtasks stats` and monitoring. Fields a broker cannot know are left out. */
export interface BrokerStats {
  /** Ready envelopes by priority. */
  ready: Record<number, number>;
  delayed?: number;
  inFlight?: number;
  deadLetters?: number;
}

/** A dead-lettered envelope (or the raw text of a malformed one). */
export interface DeadLetter {
  /** The envelope, or undefined when the message was malformed. */
  envelope?: TaskEnvelope;
  /** The raw message text, for malformed messages (truncated to 1 KiB). */
  raw?: string;
  reason: string;
  deadLetteredAt: Date;
  /** An id to pass to `redrive`; the task uuid where there is one. */
  id: string;
}

/**
 * The transport between clients and workers. It never runs tasks and never touches Storage.
 *
 * Guarantees every implementation must give (checked by `@qtasks/test-suite`):
 * - `publish` resolves only once the envelopes are durable as far as the broker can make them
 *   (written to Redis, confirmed by RabbitMQ). A bulk publish is one round trip or close to it.
 * - `claim` hands out ready envelopes highest `priority` first, FIFO within a priority, at most
 *   `max` of them, and blocks (no sleep-and-poll) up to `waitSeconds` while none is ready.
 * - At-least-once: a claimed envelope that is neither acked, released nor dead-lettered before its
 *   lease expires (worker died) becomes claimable again within `leaseSeconds` plus one sweep.
 * - `deliveryCount` is counted at claim. The broker does not decide what happens past
 *   `deliveryLimit`: the worker sees the count, records the failure, then calls `deadLetter`.
 * - `ack`, `release` and `deadLetter` are atomic, and refused (resolve `false`) for a delivery whose
 *   lease was lost to a newer claim.
 * - A message that is not a valid envelope is never returned by `claim`: the broker dead-letters it
 *   with reason `malformed`, logs it once, and goes on.
 *
 * Ownership: a broker built from connection options creates its connections in `start` and closes
 * them in `stop`; a broker given an existing client uses it and never closes it.
 */
export interface Broker {
  /** A short name for logs (`"memory"`, `"redis"`, `"rabbitmq"`). */
  readonly name: string;
  /**
   * Where it connects, for logs and `qtasks run`'s start line, with credentials masked (e.g.
   * `redis://127.0.0.1:6379/0`, see `maskUrl`). Optional: absent for in-process components.
   */
  readonly target?: string;
  /** Seconds a claim stays leased without renewal. The worker renews at a third of it. */
  readonly leaseSeconds: number;
  /** Claims after which the worker dead-letters the envelope instead of running it. */
  readonly deliveryLimit: number;
  /**
   * How many claims a worker may keep in flight at once, each for its share of the free slots.
   * Default 1. A broker whose claims are independent round trips on a pipelined connection gains
   * from 2: the service works on one batch while the worker runs the other, instead of the two
   * taking turns. The default worker uses it only through a fused `claimAndBegin` (see `fuse`),
   * which must then be safe to call concurrently and answer in the order the calls were made: its
   * batches arrive ready to run, and start in arrival order, so priority order holds across lanes.
   */
  readonly claimLanes?: number;

  /** Connect and declare what the broker needs. Called once by the app; idempotent. */
  start(ctx: ComponentContext): Promise<void>;
  /** Stop claiming, wake blocked claims, close what the broker created. Idempotent. */
  stop(): Promise<void>;

  /** Publish one or many envelopes; all-or-error. */
  publish(messages: PublishMessage[]): Promise<void>;
  /** Claim up to `max` ready envelopes (see the guarantees above). */
  claim(max: number, options: ClaimOptions): Promise<Delivery[]>;
  /** Renew the lease of a running delivery. `false`: the lease was lost (another claim took it). */
  extendLease(delivery: Delivery): Promise<boolean>;
  /** The task is final in storage: forget the envelope. `false`: stale delivery, refused. */
  ack(delivery: Delivery): Promise<boolean>;
  /** Put the envelope back, claimable after `delay` seconds (default now). `false`: stale. */
  release(delivery: Delivery, options?: { delay?: number }): Promise<boolean>;
  /** Move the envelope to the dead-letter list with a reason. `false`: stale. */
  deadLetter(delivery: Delivery, reason: string): Promise<boolean>;

  /** Dead letters, oldest first. */
  listDeadLetters(options?: { limit?: number }): Promise<DeadLetter[]>;
  /** Publish dead letters again (all, or those with the given ids) and drop them from the list.
   * Resolves to the number re-driven. Malformed ones cannot be re-driven and stay. */
  redriveDeadLetters(ids?: string[]): Promise<number>;
  /** Queue depths. */
  stats(): Promise<BrokerStats>;

  /**
   * Optional. When this broker and `storage` live on the same server (the Redis broker and the Redis
   * storage on one Redis, say), operations that span both in one atomic step and one round trip.
   * The app calls it once, after both have started, and uses what it returns instead of the separate
   * calls; `undefined` (or no method) means no fusion, and nothing changes. The returned object is
   * the broker's: it needs no closing and stops working when the broker stops.
   */
  fuse?(storage: Storage): FusedOperations | undefined;
}

/** A claimed delivery whose record was already begun in the same step (see `FusedOperations`). */
export interface BegunDelivery {
  delivery: Delivery;
  /** What `storage.begin` would have answered; absent when the record could not be begun there
   * (no record yet, say): the worker then calls `storage.begin` itself. */
  begun?: BeginResult;
}

/**
 * Broker and storage operations fused into one atomic step each (see `Broker.fuse`). Each has the
 * exact meaning of the separate calls it replaces, with the same guarantees; only the round trips
 * (and the window between the calls) go away.
 */
export interface FusedOperations {
  /** `storage.add(records)` then `broker.publish(messages)`, both or neither. */
  enqueue(records: NewTaskRecord[], messages: PublishMessage[]): Promise<void>;
  /** `broker.claim(max, options)`, then `storage.begin` of each claimed envelope's record. */
  claimAndBegin(max: number, options: ClaimOptions): Promise<BegunDelivery[]>;
  /**
   * `storage.finish(uuid, attempt, outcome)` and, only if that wrote, `broker.ack(delivery)`.
   * Resolves to `finish`'s answer: `false` = stale attempt, nothing written and nothing acked.
   */
  finishAndAck(delivery: Delivery, attempt: number, outcome: FinalOutcome): Promise<boolean>;
}
