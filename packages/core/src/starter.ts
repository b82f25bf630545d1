import type { QueueTasks, StartOptions } from "./app";
import type { Starter } from "./contracts/starter";

/**
 * Runs an app as a long-lived process: starts it, then on SIGTERM or SIGINT stops it gracefully
 * (claiming stops at once, running tasks get `config.shutdownTimeout`, the rest are released).
 * A second signal exits at once with code 1.
 */
export class ProcessStarter implements Starter {
  private done: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private resolveRun: (() => void) | undefined;

  constructor(
    private readonly app: QueueTasks,
    private readonly options: StartOptions & { shutdownTimeout?: number } = {},
  ) {}

  run(): Promise<void> {
    if (this.done) return this.done;
    this.done = new Promise<void>((resolve, reject) => {
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        signals++;
        if (signals > 1) {
          this.app.logger.warn("second signal: exiting now", { signal });
          process.exit(1);
        }
        this.app.logger.info("signal received: stopping gracefully", { signal });
        this.stop().then(cleanupAndResolve, reject);
      };
      this.resolveRun = () => cleanupAndResolve();
      const cleanupAndResolve = () => {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
        resolve();
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      this.app.start(this.options).catch((error) => {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
        reject(error);
      });
    });
    return this.done;
  }

  stop(): Promise<void> {
    if (!this.stopping) {
      const timeout = this.options.shutdownTimeout;
      this.stopping = this.app.stop(timeout === undefined ? {} : { timeout });
      this.stopping.then(
        () => this.resolveRun?.(),
        () => {},
      );
    }
    return this.stopping;
  }
}
