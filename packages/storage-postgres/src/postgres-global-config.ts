import {
  type ComponentContext,
  ConnectionError,
  type GlobalConfig,
  InvalidOptionError,
  NotStartedError,
  QTasksError,
  type WorkerInfo,
} from "@qtasks/core";
import type pg from "pg";
import {
  type ConnectionTarget,
  createOwnedPool,
  describeTarget,
  resolveClientConfig,
  retryStartup,
  scrub,
  targetOf,
  withDefaultUser,
} from "./connection";
import { migrate } from "./migrations";
import { qualified, validateSchemaName } from "./sql";
import { mapUnstorable, toJsonText } from "./unstorable";

/** Options of `PostgresGlobalConfig` (the connection options are those of `PostgresStorage`). */
export interface PostgresGlobalConfigOptions {
  connectionString?: string;
  /** Alias of `connectionString`. */
  url?: string;
  pool?: pg.PoolConfig;
  /** An existing pool to use; never ended by the global config. */
  client?: pg.Pool;
  /** Default `"qtasks"`; the same schema as the storage is fine (separate tables). */
  schema?: string;
  applicationName?: string;
  startupDeadlineSeconds?: number;
}

/**
 * Worker presence and shared settings in PostgreSQL: heartbeats are rows with an expiry time, so a
 * worker that stops sending them disappears from `listWorkers` after its TTL without any cleanup job.
 */
export class PostgresGlobalConfig implements GlobalConfig {
  readonly name = "postgres";
  /** Where it connects (contract `target`): host, port and database, never the password. */
  get target(): string {
    return `postgres://${describeTarget(this.conn)}`;
  }
  readonly schema: string;
  private readonly options: PostgresGlobalConfigOptions;
  private readonly clientConfig: pg.PoolConfig;
  private readonly conn: ConnectionTarget;
  private readonly password: string | undefined;
  private readonly workers: string;
  private readonly settings: string;
  private pool: pg.Pool | undefined;
  private ownsPool = false;
  private startPromise: Promise<void> | undefined;
  private started = false;

  constructor(options: PostgresGlobalConfigOptions = {}) {
    this.options = options;
    this.schema = validateSchemaName(options.schema ?? "qtasks");
    this.workers = qualified(this.schema, "workers");
    this.settings = qualified(this.schema, "settings");
    const base = options.client
      ? { ...(options.client.options as pg.PoolConfig) }
      : resolveClientConfig({ ...options, connectionString: options.connectionString ?? options.url });
    this.clientConfig = withDefaultUser({
      ...base,
      application_name: options.applicationName ?? base.application_name ?? "qtasks",
    });
    const { target, password } = targetOf(this.clientConfig);
    this.conn = target;
    this.password = password;
  }

  start(ctx: ComponentContext): Promise<void> {
    if (!this.startPromise) {
      this.startPromise = this.doStart(ctx).catch((err) => {
        this.startPromise = undefined;
        throw err;
      });
    }
    return this.startPromise;
  }

  private async doStart(ctx: ComponentContext): Promise<void> {
    const logger = ctx.logger.child({
      component: "globalConfig",
      globalConfig: "postgres",
      schema: this.schema,
    });
    const deadlineSeconds = this.options.startupDeadlineSeconds ?? 30;
    if (this.options.client) {
      this.pool = this.options.client;
    } else {
      this.pool = createOwnedPool(
        this.clientConfig,
        { max: 2, connectionTimeoutMillis: 5000 },
        logger,
        this.password,
      );
      this.ownsPool = true;
    }
    try {
      await retryStartup({
        target: this.conn,
        password: this.password,
        logger,
        deadlineSeconds,
        attempt: async () => {
          const client = await this.pool!.connect();
          const onError = () => {};
          client.on("error", onError);
          try {
            await migrate(client, this.schema);
          } finally {
            client.off("error", onError);
            client.release();
          }
        },
      });
    } catch (err) {
      if (this.ownsPool) await this.pool.end().catch(() => {});
      this.pool = undefined;
      throw err;
    }
    this.started = true;
  }

  async stop(): Promise<void> {
    const starting = this.startPromise;
    this.startPromise = undefined;
    if (starting) await starting.catch(() => {});
    this.started = false;
    if (this.ownsPool) await this.pool?.end().catch(() => {});
    this.pool = undefined;
    this.ownsPool = false;
  }

  async heartbeat(info: WorkerInfo, ttlSeconds: number): Promise<void> {
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
      throw new InvalidOptionError("ttlSeconds", "must be > 0");
    const json = toJsonText(
      { ...info, startedAt: toIso(info.startedAt), heartbeatAt: toIso(info.heartbeatAt) },
      "worker info",
    );
    await this.query(
      `INSERT INTO ${this.workers} (id, info, expires_at) VALUES ($1, $2::jsonb, now() + make_interval(secs => $3))
       ON CONFLICT (id) DO UPDATE SET info = EXCLUDED.info, expires_at = EXCLUDED.expires_at`,
      [String(info.id), json, ttlSeconds],
    );
  }

  async unregister(workerId: string): Promise<void> {
    await this.query(`DELETE FROM ${this.workers} WHERE id = $1`, [String(workerId)]);
  }

  async listWorkers(): Promise<WorkerInfo[]> {
    // Expired rows are removed here, so the table never grows with dead workers.
    await this.query(`DELETE FROM ${this.workers} WHERE expires_at <= now()`, []);
    const { rows } = await this.query<{ info: string }>(
      `SELECT info::text AS info FROM ${this.workers} WHERE expires_at > now() ORDER BY id`,
      [],
    );
    return rows.map((r) => {
      const w = JSON.parse(r.info) as WorkerInfo & { startedAt: string; heartbeatAt: string };
      return { ...w, startedAt: new Date(w.startedAt), heartbeatAt: new Date(w.heartbeatAt) };
    });
  }

  async set(key: string, value: unknown): Promise<void> {
    if (value === undefined) {
      await this.query(`DELETE FROM ${this.settings} WHERE key = $1`, [String(key)]);
      return;
    }
    const json = toJsonText(value, "setting");
    toJsonText(String(key), "setting key");
    await this.query(
      `INSERT INTO ${this.settings} (key, value, updated_at) VALUES ($1, $2::jsonb, now())
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
      [String(key), json],
    );
  }

  async get(key: string): Promise<unknown> {
    const { rows } = await this.query<{ value: string }>(
      `SELECT value::text AS value FROM ${this.settings} WHERE key = $1`,
      [String(key)],
    );
    return rows[0] ? JSON.parse(rows[0].value) : undefined;
  }

  private async query<R extends pg.QueryResultRow>(
    sql: string,
    params: unknown[],
  ): Promise<pg.QueryResult<R>> {
    if (!this.started || !this.pool) throw new NotStartedError("PostgresGlobalConfig is not started");
    try {
      return await this.pool.query<R>(sql, params);
    } catch (err) {
      const mapped = mapUnstorable(err);
      if (mapped !== err || err instanceof QTasksError) throw mapped;
      throw new ConnectionError("postgres", scrub((err as Error).message, this.password), { cause: err });
    }
  }
}

function toIso(d: unknown): string {
  return d instanceof Date ? d.toISOString() : new Date(d as string).toISOString();
}
