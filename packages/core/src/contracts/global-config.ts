import type { ComponentContext } from "./component";

/** What a worker tells the world about itself on every heartbeat. */
export interface WorkerInfo {
  id: string;
  appName: string;
  host: string;
  pid: number;
  concurrency: number;
  running: number;
  startedAt: Date;
  /** When this heartbeat was sent. */
  heartbeatAt: Date;
}

/**
 * Shared, cross-process configuration and presence (QTasks' GlobalConfig): workers register with a
 * heartbeat so that `qtasks stats` and users can see who is alive; a worker that stops sending
 * heartbeats disappears after `ttlSeconds`. Ownership as for Broker and Storage.
 */
export interface GlobalConfig {
  readonly name: string;
  /**
   * Where it connects, for logs and `qtasks run`'s start line, with credentials masked (e.g.
   * `redis://127.0.0.1:6379/0`, see `maskUrl`). Optional: absent for in-process components.
   */
  readonly target?: string;
  start(ctx: ComponentContext): Promise<void>;
  stop(): Promise<void>;
  /** Record a heartbeat; it expires after `ttlSeconds`. */
  heartbeat(info: WorkerInfo, ttlSeconds: number): Promise<void>;
  /** Remove a worker at once (clean shutdown). */
  unregister(workerId: string): Promise<void>;
  /** Workers whose heartbeat has not expired. */
  listWorkers(): Promise<WorkerInfo[]>;
  /** Shared key/value settings (JSON values). */
  set(key: string, value: unknown): Promise<void>;
  get(key: string): Promise<unknown>;
}
