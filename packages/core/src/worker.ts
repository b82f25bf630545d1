import { hostname } from "node:os";
import { createTaskSelf, RunContext, type RunScope } from "./context";
import type { BegunDelivery, Broker, Delivery, FusedOperations } from "./contracts/broker";
import type { ComponentMap, QueueTasksConfig } from "./contracts/context";
import type { GlobalConfig } from "./contracts/global-config";
import type { Logger } from "./contracts/logger";
import type { Plugin, RunHookInput } from "./contracts/plugin";
import type { NewTaskRecord, TaskRecord } from "./contracts/record";
import type { BeginResult, FinalOutcome, Storage } from "./contracts/storage";
import type {
  EnqueueOptions,
  ExecutionOutcome,
  MiddlewareAfterEntry,
  MiddlewareBeforeEntry,
} from "./contracts/task";
import type { Worker, WorkerStopOptions } from "./contracts/worker";
import { QTasksError, TaskTimeoutError, UnknownTaskError } from "./errors";
import type { QueueTasksEvents, TypedEmitter } from "./events";
import { DefaultExecutor } from "./executor";
import type { TaskHandle, WaitHooks } from "./handle";
import { newUuid, retryUuid } from "./ids";
import { LazyAbortController } from "./lazy-abort";
import { runAround } from "./plugin-around";
import type { AnyTask, TaskSelf } from "./task";
import { encodeJson } from "./validation";

/** What the worker needs from the app. `QueueTasks` provides it. */
export interface WorkerHost {
  readonly name: string;
  readonly broker: Broker;
  readonly storage: Storage;
  readonly globalConfig: GlobalConfig;
  readonly config: QueueTasksConfig;
  readonly logger: Logger;
  readonly plugins: readonly Plugin[];
  readonly events: TypedEmitter<QueueTasksEvents>;
  /** The broker's fused operations with the storage, if it offered any (see `Broker.fuse`). */
  fused?(): FusedOperations | undefined;
  readonly middlewaresBefore: readonly MiddlewareBeforeEntry[];
  readonly middlewaresAfter: readonly MiddlewareAfterEntry[];
  lookupTask(name: string): AnyTask | undefined;
  enqueueChild(
    parentUuid: string,
    task: string | AnyTask,
    args: unknown[],
    options: EnqueueOptions,
    hooks: WaitHooks,
  ): Promise<TaskHandle<unknown>>;
}

interface Run {
  delivery: Delivery;
  controller: LazyAbortController;
  /** Set when `stop()` gave up waiting and released the delivery: the run's outcome is dropped. */
  released: boolean;
  /** While > 0 the run waits on a child and does not hold a slot. */
  waiting: number;
  /** The handler is done and its final write is on its way: the run no longer holds a slot. */
  done?: boolean;
}

/**
 * The default worker. Claims at most as many deliveries as it has free slots (so prefetch is
 * bounded by what it can run now), records each run in storage, runs the executor, writes the final
 * record and only then acks. Leases are renewed at a third of `leaseSeconds` while a task runs.
 */
export class DefaultWorker implements Worker {
  readonly id: string;
  readonly concurrency: number;
  private readonly runs = new Set<Run>();
  private busy = 0;
  /** Claimed ahead (`config.prefetch`), waiting for a slot; started in claim order. */
  private readonly buffered: Delivery[] = [];
  private readonly prefetch: number;
  private stopping = false;
  private claimAbort = new AbortController();
  private loop: Promise<void> | undefined;
  /** Woken when a slot frees (claim lanes waiting for room, `stop()` waiting for runs). */
  private readonly slotWaiters = new Set<() => void>();
  /** Slots asked for by claims in flight, so concurrent lanes never claim more than there is room for. */
  private reserved = 0;
  /** Claims the broker allows in flight at once (`Broker.claimLanes`, at most the slots). */
  private readonly lanes: number;
  /** Lanes in use since `start` (more than one only with a fused claim-and-begin, see `start`). */
  private activeLanes = 1;
  /** Set while a claimed batch was started in this turn of the event loop (see `takeTurn`). */
  private startedThisTurn = false;
  /** Lanes whose batch waits for its turn to start, in arrival order. */
  private readonly turnQueue: (() => void)[] = [];
  private leaseTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private readonly startedAt = new Date();
  private readonly log: Logger;
  private readonly components: Partial<ComponentMap>;
  /** Plugins with an `aroundRun` hook (most apps: none, and runs skip the wrapping). */
  private readonly runWrappers: readonly Plugin[];

  constructor(
    private readonly host: WorkerHost,
    options: { concurrency?: number } = {},
  ) {
    this.concurrency = options.concurrency ?? host.config.maxTasksProcess;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1)
      throw new QTasksError("QTASKS_INVALID_OPTION", "concurrency must be a positive integer");
    this.prefetch = host.config.prefetch ?? 0;
    if (!Number.isInteger(this.prefetch) || this.prefetch < 0)
      throw new QTasksError("QTASKS_INVALID_OPTION", "prefetch must be a non-negative integer");
    this.lanes = Math.min(this.concurrency + this.prefetch, claimLanesOf(host.broker));
    this.id = `${hostname()}:${process.pid}:${newUuid().slice(0, 8)}`;
    this.log = host.logger.child({ component: "worker", worker: this.id });
    this.components = {
      broker: host.broker,
      storage: host.storage,
      worker: this,
      config: host.config,
      logger: host.logger,
      plugins: host.plugins,
      globalConfig: host.globalConfig,
    };
    this.runWrappers = host.plugins.filter((p) => p.aroundRun);
  }

  get running(): number {
    return this.runs.size;
  }

  async start(): Promise<void> {
    if (this.loop) return;
    this.stopping = false;
    this.claimAbort = new AbortController();
    // One timer renews every lease: a third of the lease period keeps a margin for slow round trips.
    const every = Math.max(100, (this.host.broker.leaseSeconds * 1000) / 3);
    this.leaseTimer = setInterval(() => void this.renewLeases(), every);
    this.leaseTimer.unref();
    await this.heartbeat();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.host.config.heartbeatInterval * 1000);
    this.heartbeatTimer.unref();
    const retention = this.host.config.retention;
    if (retention) {
      this.retentionTimer = setInterval(() => void this.purge(), (retention.intervalSeconds ?? 60) * 1000);
      this.retentionTimer.unref();
    }
    for (const p of this.host.plugins) await this.hook(p, "onWorkerStart", () => p.onWorkerStart?.());
    // Claim lanes (`Broker.claimLanes`): each lane claims up to its share of the slots, so one
    // batch is with the service while this process runs another. Only when the claim also begins
    // the records: a batch is then ready to run as it arrives, and batches start in the order they
    // arrived (see `takeTurn`). With separate begins, whose answers for two batches may come back in
    // either order (a pooled storage), a later batch of lower priority could start first.
    this.activeLanes = this.host.fused?.() && this.prefetch === 0 ? this.lanes : 1;
    const share = Math.ceil((this.concurrency + this.prefetch) / this.activeLanes);
    this.loop = Promise.all(Array.from({ length: this.activeLanes }, () => this.claimLoop(share))).then(
      () => undefined,
    );
    this.host.events.emit("worker:start", { workerId: this.id, concurrency: this.concurrency });
    this.log.info("worker started", { concurrency: this.concurrency });
  }

  async stop(options: WorkerStopOptions = {}): Promise<void> {
    if (!this.loop) return;
    const timeout = options.timeout ?? this.host.config.shutdownTimeout;
    this.stopping = true;
    this.claimAbort.abort();
    this.wakeSlots();
    await this.loop;
    this.loop = undefined;
    // Claimed ahead but never started: back to the broker at once.
    for (const d of this.buffered.splice(0)) await this.host.broker.release(d).catch(() => {});
    // Let running tasks finish, up to the deadline.
    const deadline = Date.now() + timeout * 1000;
    while (this.runs.size > 0 && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.slotWaiters.add(r);
        setTimeout(r, Math.min(100, Math.max(0, deadline - Date.now())));
      });
    }
    // Release the rest now, so another worker takes them at once instead of after a lease expiry.
    let released = 0;
    for (const run of [...this.runs]) {
      run.released = true;
      run.controller.abort(
        new QTasksError("QTASKS_WORKER_STOPPED", "the worker stopped before the task finished"),
      );
      if (this.runs.delete(run) && run.waiting === 0 && !run.done) this.busy--;
      try {
        if (await this.host.broker.release(run.delivery)) released++;
      } catch (error) {
        this.log.error("could not release a task on stop; it returns after its lease", {
          uuid: run.delivery.envelope.uuid,
          error,
        });
      }
    }
    clearInterval(this.leaseTimer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.retentionTimer);
    await this.host.globalConfig.unregister(this.id).catch(() => {});
    for (const p of this.host.plugins) await this.hook(p, "onWorkerStop", () => p.onWorkerStop?.());
    this.host.events.emit("worker:stop", { workerId: this.id, released });
    this.log.info("worker stopped", { released });
  }

  private async claimLoop(cap: number): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      // Room for what can run now, plus the prefetch allowance held ready for the next free slot.
      const room = Math.min(
        cap,
        this.concurrency + this.prefetch - this.busy - this.buffered.length - this.reserved,
      );
      if (room <= 0) {
        await new Promise<void>((r) => this.slotWaiters.add(r));
        continue;
      }
      let deliveries: (Delivery | BegunDelivery)[];
      const fused = this.host.fused?.();
      const claimOptions = { waitSeconds: 5, signal: this.claimAbort.signal };
      this.reserved += room;
      try {
        // Claim and begin in one step, unless deliveries may wait in the prefetch buffer (their
        // records would say `process` while they wait).
        deliveries =
          fused && this.prefetch === 0
            ? await fused.claimAndBegin(room, claimOptions)
            : await this.host.broker.claim(room, claimOptions);
        failures = 0;
      } catch (error) {
        if (this.stopping) break;
        failures++;
        const backoff = Math.min(5000, 100 * 2 ** Math.min(failures, 6));
        this.log.error("claim failed; retrying", { error: errorText(error), retryInMs: backoff });
        await sleepMs(backoff, this.claimAbort.signal);
        continue;
      } finally {
        this.reserved -= room;
      }
      if (this.activeLanes > 1 && deliveries.length > 0) {
        this.reserved += deliveries.length;
        await this.takeTurn();
        this.reserved -= deliveries.length;
      }
      for (const item of deliveries) {
        const [d, begun] = "delivery" in item ? [item.delivery, item.begun] : [item, undefined];
        if (this.stopping) {
          // Claimed as we stopped: hand it straight back (a begun record stays `process` until the
          // next delivery begins it again, as after a crash).
          await this.host.broker.release(d).catch(() => {});
          continue;
        }
        if (this.busy < this.concurrency) this.spawn(d, begun);
        else this.buffered.push(d);
      }
    }
  }

  /**
   * Resolves when this lane's batch may start: at once when it is the first batch of this turn of
   * the event loop, otherwise two turns after the batch before it, in arrival order. The first
   * batch's writes (final writes, the next claim) are then out before this one runs, so the service
   * works on one batch while this process runs the other instead of the two taking turns.
   */
  private takeTurn(): Promise<void> {
    if (!this.startedThisTurn && this.turnQueue.length === 0) {
      this.markStarted();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.turnQueue.push(resolve);
      if (this.turnQueue.length === 1) this.nextInQueue();
    });
  }

  private nextInQueue(): void {
    setImmediate(() =>
      setImmediate(() => {
        const next = this.turnQueue.shift();
        if (!next) return;
        this.markStarted();
        next();
        if (this.turnQueue.length > 0) this.nextInQueue();
      }),
    );
  }

  private markStarted(): void {
    if (this.startedThisTurn) return;
    this.startedThisTurn = true;
    setImmediate(() => {
      this.startedThisTurn = false;
    });
  }

  private wakeSlots(): void {
    if (this.slotWaiters.size === 0) return;
    const waiters = [...this.slotWaiters];
    this.slotWaiters.clear();
    for (const w of waiters) w();
  }

  private spawn(delivery: Delivery, begun?: BeginResult): void {
    const run: Run = { delivery, controller: new LazyAbortController(), released: false, waiting: 0 };
    this.runs.add(run);
    this.busy++;
    this.process(run, begun)
      .catch(async (error) => {
        // Storage or broker failed mid-run: nothing final was acked, so the task is not lost.
        // Hand it back after a pause rather than spinning on a failing service.
        this.log.error("task processing failed; the task will be delivered again", {
          uuid: delivery.envelope.uuid,
          error: errorText(error),
        });
        if (!run.released) await this.host.broker.release(delivery, { delay: 1 }).catch(() => {});
      })
      .finally(() => {
        // A run waiting on a child, or whose final write is in flight, gave its slot back already.
        if (this.runs.delete(run) && run.waiting === 0 && !run.done) this.busy--;
        this.startBuffered();
        this.wakeSlots();
      });
  }

  /** Fills free slots from the prefetch buffer. */
  private startBuffered(): void {
    while (!this.stopping && this.busy < this.concurrency && this.buffered.length > 0)
      this.spawn(this.buffered.shift()!);
  }

  private async renewLeases(): Promise<void> {
    for (const d of this.buffered)
      this.host.broker
        .extendLease(d)
        .catch((error) =>
          this.log.warn("lease renewal failed", { uuid: d.envelope.uuid, error: errorText(error) }),
        );
    for (const run of this.runs) {
      this.host.broker.extendLease(run.delivery).then(
        (ok) => {
          if (!ok && !run.released)
            this.log.warn("lease lost: another worker may run this task; a stale result will be refused", {
              uuid: run.delivery.envelope.uuid,
            });
        },
        (error) =>
          this.log.warn("lease renewal failed", {
            uuid: run.delivery.envelope.uuid,
            error: errorText(error),
          }),
      );
    }
  }

  private async process(run: Run, preBegun?: BeginResult): Promise<void> {
    const { host } = this;
    const { delivery } = run;
    const env = delivery.envelope;

    if (delivery.deliveryCount > host.broker.deliveryLimit) {
      const begun = preBegun ?? (await host.storage.begin(env.uuid, env));
      if (begun.kind === "final") {
        await host.broker.ack(delivery);
        return;
      }
      const reason = "delivery-limit";
      await host.storage.finish(env.uuid, begun.attempt, {
        status: "error",
        traceback: `DeadLetter: delivered ${delivery.deliveryCount} times, over the limit of ${host.broker.deliveryLimit}; the worker running it probably crashed each time`,
        errorName: "DeadLetter",
        deadLetterReason: reason,
      });
      await host.broker.deadLetter(delivery, reason);
      host.events.emit("task:dead-letter", { uuid: env.uuid, taskName: env.taskName, reason });
      this.log.warn("task dead-lettered", { uuid: env.uuid, taskName: env.taskName, reason });
      return;
    }

    const begun = preBegun ?? (await host.storage.begin(env.uuid, env));
    if (begun.kind === "final") {
      // Already final (a redelivery after the final write): ack without running again.
      await host.broker.ack(delivery);
      return;
    }
    const attempt = begun.attempt;
    const task = host.lookupTask(env.taskName);
    if (!task) {
      const error = new UnknownTaskError(env.taskName);
      await this.writeFinal(run, begun.record, attempt, { status: "error", error }, 0);
      return;
    }

    // Built lazily: most runs never log, and only echo tasks (or executors that ask) need `self`.
    let taskLog: Logger | undefined;
    const scope: RunScope = {
      uuid: env.uuid,
      taskName: env.taskName,
      attempt,
      controller: run.controller,
      get logger() {
        taskLog ??= host.logger.child({ task: env.taskName, uuid: env.uuid, attempt });
        return taskLog;
      },
      storage: host.storage,
      config: host.config,
      components: this.components,
      enqueueChild: (target, args, options) =>
        host.enqueueChild(env.uuid, target, args, options, {
          enter: () => this.enterWait(run),
          exit: () => this.exitWait(run),
        }),
    };
    const ctx = new RunContext(scope);
    let self: TaskSelf | undefined;
    for (const p of host.plugins) await this.hook(p, "onTaskStart", () => p.onTaskStart?.(ctx));
    if (host.events.has("task:start"))
      host.events.emit("task:start", {
        uuid: env.uuid,
        taskName: env.taskName,
        attempt,
        retries: env.retries,
      });

    let maxTimer: NodeJS.Timeout | undefined;
    if (task.maxTime !== undefined) {
      const maxTime = task.maxTime;
      maxTimer = setTimeout(
        () => run.controller.abort(new TaskTimeoutError(task.taskName, maxTime)),
        maxTime * 1000,
      );
    }
    const started = Date.now();
    let outcome: ExecutionOutcome;
    try {
      const Exec = task.executor ?? DefaultExecutor;
      const execute = () =>
        new Exec({
          task,
          args: env.args,
          retries: env.retries,
          get self() {
            self ??= createTaskSelf(task, ctx, scope);
            return self;
          },
          ctx,
          middlewaresBefore: joinMiddleware(host.middlewaresBefore, task.middlewaresBefore),
          // App-wide middleware wraps the task's: its before runs first and its after last.
          middlewaresAfter: joinMiddleware(task.middlewaresAfter, host.middlewaresAfter),
          get signal() {
            return run.controller.signal;
          },
          abort: run.controller,
          emitOutput: async (value) => {
            encodeJson(value, "generator output", host.config.maxResultBytes);
            await host.storage.appendOutput(env.uuid, attempt, value);
          },
        }).execute();
      outcome =
        this.runWrappers.length === 0
          ? await execute()
          : await runAround(
              this.runWrappers,
              (plugin, input: RunHookInput, next) => plugin.aroundRun!(input, next),
              { ctx, envelope: env },
              execute,
              (plugin, error) => this.reportHook(plugin, "aroundRun", error),
            );
    } catch (error) {
      outcome = { status: "error", error };
    } finally {
      if (maxTimer) clearTimeout(maxTimer);
      await ctx.dispose();
    }
    if (run.released) return; // stop() handed the task to another worker; drop this outcome.
    await this.writeFinal(run, begun.record, attempt, outcome, Date.now() - started);
  }

  /** Writes the outcome (publishing a retry first), then acks. A refused (stale) write is not acked. */
  private async writeFinal(
    run: Run,
    record: TaskRecord,
    attempt: number,
    outcome: ExecutionOutcome,
    durationMs: number,
  ): Promise<void> {
    const { host } = this;
    const env = run.delivery.envelope;
    const fused = host.fused?.();
    let final: FinalOutcome;
    switch (outcome.status) {
      case "success": {
        try {
          // A handler that returns nothing stores null.
          const returning = outcome.returning === undefined ? null : outcome.returning;
          encodeJson(returning, "result", host.config.maxResultBytes);
          final = { status: "success", returning };
        } catch (error) {
          final = errorOutcome(error);
        }
        break;
      }
      case "error":
        final = errorOutcome(outcome.error);
        break;
      case "cancel":
        final = { status: "cancel", cancelReason: outcome.reason };
        break;
      case "retry": {
        // Publish the next attempt before closing this one: a crash in between re-runs this attempt,
        // whose retry has the same derived uuid, so the retry is never lost nor doubled in storage.
        const next = retryUuid(env.uuid, env.retries + 1);
        const nextEnvelope = {
          ...env,
          uuid: next,
          retries: env.retries + 1,
          retryOf: env.uuid,
          enqueuedAt: Date.now(),
        };
        const nextRecord: NewTaskRecord = {
          uuid: next,
          taskName: env.taskName,
          priority: env.priority,
          args: record.args,
          retries: env.retries + 1,
          retryOf: env.uuid,
          parentUuid: env.parentUuid,
          tags: record.tags,
          extra: record.extra,
        };
        const nextMessage = { envelope: nextEnvelope, delay: outcome.delay };
        if (fused) await fused.enqueue([nextRecord], [nextMessage]);
        else {
          await host.storage.add([nextRecord]);
          await host.broker.publish([nextMessage]);
        }
        final = { ...errorOutcome(outcome.error), status: "retry", retryUuid: next } as FinalOutcome;
        host.events.emit("task:retry", {
          uuid: env.uuid,
          taskName: env.taskName,
          retryUuid: next,
          delay: outcome.delay,
          error: outcome.error,
        });
        break;
      }
    }
    const writing = fused
      ? fused.finishAndAck(run.delivery, attempt, final)
      : host.storage.finish(env.uuid, attempt, final);
    // The slot is free once the final write is issued: the next claim then goes out in the same
    // write as this one (one round trip per task, not two). The lease is still held until the ack.
    this.freeSlot(run);
    const ok = await writing;
    if (!ok) {
      host.events.emit("task:stale", { uuid: env.uuid, taskName: env.taskName, attempt });
      this.log.warn("stale completion refused: a newer attempt owns this task", {
        uuid: env.uuid,
        taskName: env.taskName,
        attempt,
      });
      return;
    }
    if (!fused) await host.broker.ack(run.delivery);

    // The final record is only built for someone who looks at it (events, plugins).
    const listens =
      (final.status === "success" && host.events.has("task:success")) ||
      (final.status === "error" && host.events.has("task:error")) ||
      host.plugins.some((p) => p.onTaskFinish);
    if (!listens && !(final.status === "cancel" && host.events.has("task:cancel"))) return;
    const finalRecord: TaskRecord = {
      ...record,
      ...final,
      status: final.status,
      attempt,
      finishedAt: new Date(),
    };
    if (final.status === "success")
      host.events.emit("task:success", {
        uuid: env.uuid,
        taskName: env.taskName,
        record: finalRecord,
        durationMs,
      });
    else if (final.status === "error")
      host.events.emit("task:error", {
        uuid: env.uuid,
        taskName: env.taskName,
        record: finalRecord,
        error: outcome.status === "error" ? outcome.error : undefined,
        durationMs,
      });
    else if (final.status === "cancel")
      host.events.emit("task:cancel", { uuid: env.uuid, taskName: env.taskName, reason: final.cancelReason });
    for (const p of host.plugins)
      await this.hook(p, "onTaskFinish", () => p.onTaskFinish?.({ record: finalRecord }));
  }

  private freeSlot(run: Run): void {
    if (run.done) return;
    run.done = true;
    if (!this.runs.has(run) || run.waiting > 0) return;
    this.busy--;
    this.startBuffered();
    this.wakeSlots();
  }

  private enterWait(run: Run): void {
    if (!this.runs.has(run)) return;
    if (run.waiting++ === 0) {
      this.busy--;
      this.startBuffered();
      this.wakeSlots();
    }
  }

  private exitWait(run: Run): void {
    if (!this.runs.has(run)) return;
    if (--run.waiting === 0) this.busy++;
  }

  /** One retention pass: purge in batches until a batch comes back short. */
  async purge(): Promise<number> {
    const retention = this.host.config.retention;
    if (!retention) return 0;
    const limit = retention.batchSize ?? 1000;
    let total = 0;
    try {
      for (;;) {
        const n = await this.host.storage.purge({ olderThanSeconds: retention.olderThanSeconds, limit });
        total += n;
        if (n < limit || this.stopping) break;
      }
      if (total > 0) this.log.debug("retention purged records", { count: total });
    } catch (error) {
      this.log.warn("retention purge failed", { error: errorText(error) });
    }
    return total;
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.host.globalConfig.heartbeat(
        {
          id: this.id,
          appName: this.host.name,
          host: hostname(),
          pid: process.pid,
          concurrency: this.concurrency,
          running: this.runs.size,
          startedAt: this.startedAt,
          heartbeatAt: new Date(),
        },
        this.host.config.heartbeatInterval * 3,
      );
    } catch (error) {
      this.log.warn("heartbeat failed", { error: errorText(error) });
    }
  }

  private async hook(plugin: Plugin, hook: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.reportHook(plugin, hook, error);
    }
  }

  private reportHook(plugin: Plugin, hook: string, error: unknown): void {
    this.host.events.emit("plugin:error", { plugin: plugin.name, hook, error });
    this.log.error("plugin hook failed", { plugin: plugin.name, hook, error: errorText(error) });
  }
}

/** Two middleware lists as one, without copying when either is empty (the usual case). */
function joinMiddleware<T>(first: readonly T[], second: readonly T[]): readonly T[] {
  if (first.length === 0) return second;
  if (second.length === 0) return first;
  return [...first, ...second];
}

/** A readable traceback for anything thrown, Error or not. */
export function formatError(error: unknown): { traceback: string; errorName: string } {
  if (error instanceof Error) {
    const stack = error.stack ?? `${error.name}: ${error.message}`;
    const cause = error.cause === undefined ? "" : `\nCaused by: ${formatError(error.cause).traceback}`;
    return { traceback: `${stack}${cause}`, errorName: error.name };
  }
  let text: string;
  try {
    text = typeof error === "string" ? error : (JSON.stringify(error) ?? String(error));
  } catch {
    text = String(error);
  }
  return {
    traceback: `Non-Error thrown: ${text}`,
    errorName: typeof error === "object" ? "NonError" : typeof error,
  };
}

function errorOutcome(error: unknown): FinalOutcome {
  return { status: "error", ...formatError(error) };
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** A broker's `claimLanes`, checked: a positive integer, 1 when absent. */
function claimLanesOf(broker: Broker): number {
  const lanes = broker.claimLanes ?? 1;
  if (!Number.isInteger(lanes) || lanes < 1)
    throw new QTasksError(
      "QTASKS_INVALID_OPTION",
      `broker ${broker.name}: claimLanes must be a positive integer, got ${String(lanes)}`,
    );
  return lanes;
}

function sleepMs(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
