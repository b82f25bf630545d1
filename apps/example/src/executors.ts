import { DefaultExecutor, type ExecutionOutcome } from "@qtasks/core";

/**
 * A custom executor for one task (`executor: TimingExecutor`): it keeps every default step
 * (middleware, handler, decode, retry decision) and adds the run's duration to a successful result.
 * Override a single step (`runHandler`, `decodeResult`, `onError`, `shouldRetry`, ...) or implement
 * the `Executor` interface from scratch.
 */
export class TimingExecutor extends DefaultExecutor {
  override async execute(): Promise<ExecutionOutcome> {
    const started = performance.now();
    const outcome = await super.execute();
    if (outcome.status !== "success") return outcome;
    const ms = Math.round(performance.now() - started);
    return {
      status: "success",
      returning: { ...(outcome.returning as object), executor: "TimingExecutor", ms },
    };
  }
}
