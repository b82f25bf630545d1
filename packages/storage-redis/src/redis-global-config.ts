import type { ComponentContext, GlobalConfig, WorkerInfo } from "@qtasks/core";
import { InvalidOptionError, maskUrl, NotStartedError } from "@qtasks/core";
import type { Redis } from "ioredis";
import { toJson } from "./codec";
import type { RedisConnectionOptions } from "./connection";
import {
  attachErrorLog,
  connectWithin,
  createClient,
  describeTarget,
  resolvePrefix,
  resolveUrl,
  withDeadline,
} from "./connection";
import { GlobalConfigKeys } from "./keys";
import { HEARTBEAT, LIST_WORKERS } from "./scripts";

export type RedisGlobalConfigOptions = RedisConnectionOptions;

const COMPONENT = "redis global config";
type Script = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Worker presence and shared settings on Redis: a sorted set of worker ids scored by heartbeat
 * expiry (server clock) plus a hash of their infos, cleaned lazily when listed; settings in a hash
 * of JSON values.
 */
export class RedisGlobalConfig implements GlobalConfig {
  readonly name = "redis";
  /** Where it connects, password masked (contract `target`). */
  get target(): string {
    return this.options.client ? "redis (given client)" : maskUrl(resolveUrl(this.options));
  }
  private readonly options: RedisGlobalConfigOptions;
  private readonly timeoutMs: number;
  private client: Redis | undefined;
  private owned = false;
  private keys: GlobalConfigKeys | undefined;
  private starting: Promise<void> | undefined;

  constructor(options: RedisGlobalConfigOptions = {}) {
    this.options = { ...options };
    this.timeoutMs = options.commandTimeoutMs ?? 5000;
  }

  async start(ctx: ComponentContext): Promise<void> {
    if (this.client) return;
    this.starting ??= this.doStart(ctx).catch((err) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async doStart(ctx: ComponentContext): Promise<void> {
    const owned = !this.options.client;
    const client = this.options.client ?? createClient(this.options, "qtasks:global-config");
    if (!("qtasksHeartbeat" in client)) client.defineCommand("qtasksHeartbeat", { lua: HEARTBEAT });
    if (!("qtasksListWorkers" in client)) client.defineCommand("qtasksListWorkers", { lua: LIST_WORKERS });
    if (owned) attachErrorLog(client, ctx.logger.child({ component: COMPONENT }), "global config");
    try {
      await connectWithin(COMPONENT, describeTarget(this.options, client), client, this.timeoutMs);
    } catch (err) {
      if (owned) client.disconnect();
      throw err;
    }
    this.keys = new GlobalConfigKeys(resolvePrefix(this.options.prefix, ctx.appName));
    this.owned = owned;
    this.client = client;
  }

  async stop(): Promise<void> {
    // A stop during start waits for it, so that the connection it opens is closed too.
    if (!this.client && this.starting) await this.starting.catch(() => {});
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    this.starting = undefined;
    if (!this.owned) return;
    try {
      await withDeadline(COMPONENT, "QUIT", 2000, () => client.quit());
    } catch {
      client.disconnect();
    }
  }

  async heartbeat(info: WorkerInfo, ttlSeconds: number): Promise<void> {
    if (!(Number.isFinite(ttlSeconds) && ttlSeconds > 0)) {
      throw new InvalidOptionError("ttlSeconds", "must be a positive number of seconds");
    }
    const { keys, client } = this.ready();
    const json = toJson(info, "worker info");
    await this.run("heartbeat", () =>
      (client as unknown as Record<string, Script>).qtasksHeartbeat!(
        2,
        keys.workers,
        keys.infos,
        info.id,
        json,
        Math.max(1, Math.round(ttlSeconds * 1000)),
      ),
    );
  }

  async unregister(workerId: string): Promise<void> {
    const { keys, client } = this.ready();
    await this.run("unregister", () =>
      client.multi().zrem(keys.workers, workerId).hdel(keys.infos, workerId).exec(),
    );
  }

  async listWorkers(): Promise<WorkerInfo[]> {
    const { keys, client } = this.ready();
    const items = (await this.run("listWorkers", () =>
      (client as unknown as Record<string, Script>).qtasksListWorkers!(2, keys.workers, keys.infos),
    )) as string[];
    return items.map((s) => {
      const w = JSON.parse(s) as WorkerInfo & { startedAt: string; heartbeatAt: string };
      return { ...w, startedAt: new Date(w.startedAt), heartbeatAt: new Date(w.heartbeatAt) };
    });
  }

  async set(key: string, value: unknown): Promise<void> {
    const { keys, client } = this.ready();
    if (value === undefined) {
      await this.run("set", () => client.hdel(keys.settings, key));
      return;
    }
    const json = toJson(value, `setting ${JSON.stringify(key.slice(0, 60))}`);
    await this.run("set", () => client.hset(keys.settings, key, json));
  }

  async get(key: string): Promise<unknown> {
    const { keys, client } = this.ready();
    const json = await this.run("get", () => client.hget(keys.settings, key));
    return json === null ? undefined : JSON.parse(json);
  }

  private ready(): { keys: GlobalConfigKeys; client: Redis } {
    if (!this.client || !this.keys) {
      throw new NotStartedError("RedisGlobalConfig is not started (call start() first)");
    }
    return { keys: this.keys, client: this.client };
  }

  private run<T>(what: string, call: () => Promise<T>): Promise<T> {
    return withDeadline(COMPONENT, what, this.timeoutMs, call);
  }
}
