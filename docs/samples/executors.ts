import {
  DefaultExecutor,
  type ExecutionOutcome,
  type ExecutionRequest,
  type Executor,
  QueueTasks,
} from "@qtasks/core";

// #region extend
/** Keeps every default step and changes one: the retry decision. */
export class NoRetryOnWeekendsExecutor extends DefaultExecutor {
  protected override shouldRetry(error: unknown): boolean {
    const day = new Date().getDay();
    return day !== 0 && day !== 6 && super.shouldRetry(error);
  }
}
// #endregion extend

// #region scratch
/** An executor from scratch: no middleware, no generators, just the handler and a result. */
export class BareExecutor implements Executor {
  constructor(private readonly request: ExecutionRequest) {}

  async execute(): Promise<ExecutionOutcome> {
    try {
      const { task, args } = this.request;
      // `self` is built on first read: read it for echo tasks only.
      const returning = await (task.echo ? task.handler(this.request.self, ...args) : task.handler(...args));
      return { status: "success", returning };
    } catch (error) {
      return { status: "error", error }; // execute never throws: errors become outcomes
    }
  }
}
// #endregion scratch

const app = new QueueTasks();
export const report = app.task(
  { name: "weekly_report", retry: 3, executor: NoRetryOnWeekendsExecutor },
  () => 1,
);
export const ping = app.task({ name: "ping", executor: BareExecutor }, () => "pong");
