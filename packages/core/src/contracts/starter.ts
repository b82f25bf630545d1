/**
 * Runs an app as a process (QTasks' Starter): starts it, keeps it running, and turns SIGTERM and
 * SIGINT into a graceful stop. The default is `ProcessStarter`; the CLI uses it.
 */
export interface Starter {
  /** Start the app and resolve once it has stopped (after a signal or `stop`). */
  run(): Promise<void>;
  /** Stop the app gracefully. */
  stop(): Promise<void>;
}
