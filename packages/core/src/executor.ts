import type {
  ExecutionOutcome,
  ExecutionRequest,
  Executor,
  Middleware,
  MiddlewareAfterCall,
  MiddlewareAfterEntry,
  MiddlewareBeforeCall,
  MiddlewareBeforeEntry,
  MiddlewareStop,
  RetryBackoff,
} from "./contracts/task";
import { PluginError, TaskCancelError } from "./errors";

/**
 * The default executor: middlewares-before, the handler (plain, async, generator or async
 * generator), middlewares-after, decode; then the retry decision. Extend it and override one step
 * (`runHandler`, `decodeResult`, `onError`, `shouldRetry`, ...) or replace it with your own Executor.
 */
export class DefaultExecutor implements Executor {
  constructor(protected readonly request: ExecutionRequest) {}

  async execute(): Promise<ExecutionOutcome> {
    const { request } = this;
    try {
      const before: MiddlewareBeforeCall = {
        taskName: request.task.taskName,
        uuid: request.ctx.taskUuid,
        ctx: request.ctx,
        args: [...request.args],
      };
      // Steps with nothing to do (no middleware, no decode, not overridden) are skipped rather than
      // awaited: each await of an async method costs a promise and a turn of the microtask queue.
      const proto = DefaultExecutor.prototype;
      const stop =
        request.middlewaresBefore.length === 0 && this.runBefore === proto.runBefore
          ? undefined
          : await this.runBefore(before);
      const result = stop ? stop.result : await this.raceSignal(this.runHandler(before.args));
      const after: MiddlewareAfterCall = {
        taskName: before.taskName,
        uuid: before.uuid,
        ctx: request.ctx,
        args: before.args,
        result,
      };
      if (request.middlewaresAfter.length > 0 || this.runAfter !== proto.runAfter) await this.runAfter(after);
      const returning =
        request.task.decode === undefined && this.decodeResult === proto.decodeResult
          ? after.result
          : await this.decodeResult(after.result);
      return { status: "success", returning };
    } catch (error) {
      return this.onError(error);
    }
  }

  /** Runs the before-middlewares in order; the first that returns `{ stop: true }` ends the run. */
  protected async runBefore(call: MiddlewareBeforeCall): Promise<MiddlewareStop | undefined> {
    for (const m of this.request.middlewaresBefore) {
      const out = await callBefore(m, call);
      if (out && typeof out === "object" && out.stop === true) return out;
    }
    return undefined;
  }

  protected async runAfter(call: MiddlewareAfterCall): Promise<void> {
    for (const m of this.request.middlewaresAfter) await callAfter(m, call);
  }

  /** Calls the handler (with `self` first for echo tasks) and drives generators. */
  protected async runHandler(args: unknown[]): Promise<unknown> {
    const { task } = this.request;
    // `self` is built on first read (a getter): only echo tasks pay for it.
    const out = task.echo ? task.handler(this.request.self, ...args) : task.handler(...args);
    if (isGenerator(out)) return this.runGenerator(out);
    return await out;
  }

  /**
   * Drives a generator: each yielded value goes through `generateHandler` (or is taken as is), the
   * output is streamed to clients and sent back as the value of `yield`. The result is the return
   * value, or the list of outputs when the generator returns nothing.
   */
  protected async runGenerator(
    gen: Generator<unknown, unknown, unknown> | AsyncGenerator<unknown, unknown, unknown>,
  ): Promise<unknown> {
    const { task, signal } = this.request;
    const outputs: unknown[] = [];
    let step = await gen.next();
    try {
      while (!step.done) {
        if (signal.aborted) throw signal.reason;
        const output = task.generateHandler ? await task.generateHandler(step.value) : step.value;
        outputs.push(output);
        await this.request.emitOutput(output);
        step = await gen.next(output);
      }
    } catch (error) {
      try {
        await gen.return?.(undefined);
      } catch {
        // The generator's own cleanup failed; the original error is the one to report.
      }
      throw error;
    }
    return step.value === undefined ? outputs : step.value;
  }

  /** Applies the task's `decode` to the result before it is stored. */
  protected async decodeResult(result: unknown): Promise<unknown> {
    const { decode } = this.request.task;
    return decode ? await decode(result) : result;
  }

  /** Turns an error into an outcome: cancel, plugin handling, retry, or error. */
  protected async onError(error: unknown): Promise<ExecutionOutcome> {
    if (error instanceof TaskCancelError) return { status: "cancel", reason: error.reason };
    if (error instanceof PluginError) {
      const handled = await this.handlePluginError(error);
      if (handled) return handled;
    }
    if (this.shouldRetry(error)) return { status: "retry", error, delay: this.retryDelay() };
    return { status: "error", error };
  }

  /** Asks the app's plugins (in order) to handle a `PluginError`; the first outcome wins. */
  protected async handlePluginError(error: PluginError): Promise<ExecutionOutcome | undefined> {
    const { ctx } = this.request;
    for (const plugin of ctx.getComponent("plugins")) {
      if (!plugin.onPluginError) continue;
      try {
        const out = await plugin.onPluginError(error, ctx);
        if (out) return out;
      } catch (hookError) {
        ctx.getLogger().error("plugin onPluginError hook failed", { plugin: plugin.name, error: hookError });
      }
    }
    return undefined;
  }

  /** Retry when retries are left and the error matches `retryOnExc` (any error when it is empty;
   * a `TaskTimeoutError` is an error like any other). Cancellations never reach this. */
  protected shouldRetry(error: unknown): boolean {
    const { task, retries } = this.request;
    if (retries >= task.retry) return false;
    if (task.retryOnExc.length === 0) return true;
    return task.retryOnExc.some((cls) => error instanceof cls);
  }

  /** Seconds before the next retry runs. */
  protected retryDelay(): number {
    return computeBackoff(this.request.task.retryBackoff, this.request.retries + 1);
  }

  /** Rejects as soon as the run's signal aborts (maxTime, cancellation, forced stop). */
  protected raceSignal<T>(promise: Promise<T>): Promise<T> {
    const hook = this.request.abort;
    if (hook) {
      // The worker's abort state: no AbortSignal is created for runs that never abort.
      if (hook.aborted) return Promise.reject(hook.reason);
      return new Promise<T>((resolve, reject) => {
        const off = hook.onAbort(() => reject(hook.reason));
        promise.then(
          (v) => {
            off();
            resolve(v);
          },
          (e) => {
            off();
            reject(e);
          },
        );
      });
    }
    const { signal } = this.request;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      promise.then(
        (v) => {
          signal.removeEventListener("abort", onAbort);
          resolve(v);
        },
        (e) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      );
    });
  }
}

/** Seconds of backoff before retry number `retry` (1-based). */
export function computeBackoff(backoff: RetryBackoff | undefined, retry: number): number {
  if (!backoff) return 0;
  if (backoff.type === "fixed") return Math.max(0, backoff.delay);
  const raw = backoff.base * 2 ** Math.max(0, retry - 1);
  const capped = Math.min(raw, backoff.max ?? Number.POSITIVE_INFINITY);
  return backoff.jitter === false ? capped : Math.random() * capped;
}

function isGenerator(v: unknown): v is Generator | AsyncGenerator {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as Generator).next === "function" &&
    typeof (v as Generator).throw === "function" &&
    (Symbol.iterator in v || Symbol.asyncIterator in v)
  );
}

function callBefore(m: MiddlewareBeforeEntry, call: MiddlewareBeforeCall) {
  return typeof m === "function" ? m(call) : (m as Middleware).before?.(call);
}

function callAfter(m: MiddlewareAfterEntry, call: MiddlewareAfterCall) {
  return typeof m === "function" ? m(call) : (m as Middleware).after?.(call);
}
