/** Options of `Worker.stop`. */
export interface WorkerStopOptions {
  /** Seconds running tasks may take to finish before they are released to the broker (default 25). */
  timeout?: number;
}

/**
 * Pulls deliveries from the Broker, records the run in Storage, runs the Executor, writes the final
 * record and only then acks. Owned by the app: `app.start()` starts it and `app.stop()` stops it.
 */
export interface Worker {
  /** Start claiming. Resolves once the claim loop runs. */
  start(): Promise<void>;
  /**
   * Stop claiming at once, let running tasks finish up to `timeout`, then release what is still
   * running back to the broker (claimable again immediately) and resolve.
   */
  stop(options?: WorkerStopOptions): Promise<void>;
  /** Tasks running now. */
  readonly running: number;
  /** Most tasks run at once. */
  readonly concurrency: number;
  /** This worker's id (host, pid, random), as shown by heartbeats. */
  readonly id: string;
}
