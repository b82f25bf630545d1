import type { Logger } from "@qtasks/core";
import { ConnectionError, maskUrl, QTasksError } from "@qtasks/core";
import type { RedisOptions } from "ioredis";
import { Redis } from "ioredis";

/** How a Redis component gets its connection. */
export interface RedisConnectionOptions {
  /** `redis://` / `rediss://` URL. Default: `REDIS_URL`, else `redis://127.0.0.1:6379`. */
  url?: string;
  /** ioredis options, merged over the defaults below (and over `url`). */
  redis?: RedisOptions;
  /** An existing ioredis client. The component uses it and never closes it. */
  client?: Redis;
  /**
   * Key prefix. Default `qtasks:{<appName>}`. A prefix without a `{hash tag}` gets the app name as
   * one (`myprefix` becomes `myprefix{<appName>}`, as the Redis broker does), so that every key of an
   * app lives in one Redis Cluster slot.
   */
  prefix?: string;
  /** A command that has not completed after this many milliseconds rejects with `ConnectionError`
   * (default 5000). The connection itself keeps reconnecting. */
  commandTimeoutMs?: number;
}

export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/** Reconnect forever, backing off exponentially up to 2 s (plus jitter so clients do not stampede). */
export function retryForever(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2000) + Math.floor(Math.random() * 100);
}

export function resolveUrl(options: RedisConnectionOptions): string {
  return options.url ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
}

/** A client built from options: lazy (connected in `start`), failing fast instead of queueing forever. */
export function createClient(options: RedisConnectionOptions, connectionName: string): Redis {
  const redisOptions: RedisOptions = {
    lazyConnect: true,
    // A command issued during a short reconnect is kept and sent once the link is back; a longer
    // outage fails it after two reconnect attempts (and our own deadline caps it at 5 s anyway).
    maxRetriesPerRequest: 2,
    connectTimeout: 3000,
    retryStrategy: retryForever,
    connectionName,
    ...options.redis,
  };
  return new Redis(resolveUrl(options), redisOptions);
}

/** The subscriber: a duplicate of the main connection that resubscribes under our control. */
export function duplicateForSubscriber(client: Redis, connectionName: string): Redis {
  return client.duplicate({
    lazyConnect: true,
    autoResubscribe: false,
    retryStrategy: retryForever,
    connectionName,
  });
}

/** The key prefix, with a hash tag so that multi-key scripts work on Redis Cluster. */
export function resolvePrefix(prefix: string | undefined, appName: string): string {
  if (prefix === undefined) return `qtasks:{${appName}}`;
  return /\{[^}]+\}/.test(prefix) ? prefix : `${prefix}{${appName}}`;
}

/** Where a component connects, safe to log (password masked). */
export function describeTarget(options: RedisConnectionOptions, client: Redis | undefined): string {
  if (options.client || !client) return "redis (given client)";
  return maskUrl(resolveUrl(options));
}

/**
 * Run one Redis call under a deadline. Anything that is not already a `QTasksError` becomes a
 * `ConnectionError` (stable code `QTASKS_CONNECTION`) whose message never contains credentials.
 */
export async function withDeadline<T>(
  component: string,
  what: string,
  timeoutMs: number,
  call: () => Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ConnectionError(component, `${what} did not complete within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([call(), deadline]);
  } catch (err) {
    throw toConnectionError(component, what, err);
  } finally {
    clearTimeout(timer);
  }
}

export function toConnectionError(component: string, what: string, err: unknown): QTasksError {
  if (err instanceof QTasksError) return err;
  const safe = safeMessage(err);
  // The cause is a clean copy: ioredis errors can carry the failed command with its arguments, and
  // for AUTH/HELLO those are credentials.
  const cause = new Error(safe);
  if (err instanceof Error) {
    cause.name = err.name;
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string") Object.assign(cause, { code });
  }
  return new ConnectionError(component, `${what} failed: ${safe}`, { cause });
}

/** An error's message with anything URL-shaped masked (ioredis names host:port at most anyway). */
export function safeMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, (u) => maskUrl(u));
}

/**
 * Connect (if not yet) and PING within the deadline. ioredis rejects a failed connect with a bare
 * "Connection is closed", so the reason (refused, DNS, WRONGPASS...) is taken from its error event.
 */
export async function connectWithin(
  component: string,
  target: string,
  client: Redis,
  timeoutMs: number,
): Promise<void> {
  let last: unknown;
  const onError = (e: unknown) => {
    last = e;
  };
  client.on("error", onError);
  try {
    await withDeadline(component, `connect to ${target}`, timeoutMs, async () => {
      try {
        if (client.status === "wait") await client.connect();
        await client.ping();
      } catch (err) {
        throw last ?? err;
      }
    });
  } finally {
    client.off("error", onError);
  }
}

/** Log a connection outage once, and its end. */
export function attachErrorLog(client: Redis, logger: Logger, which: string): void {
  let down = false;
  client.on("error", (err: Error) => {
    if (down) return;
    down = true;
    logger.warn(`redis: ${which} connection error, reconnecting`, { error: safeMessage(err) });
  });
  client.on("ready", () => {
    if (down) logger.info(`redis: ${which} connection is back`);
    down = false;
  });
}
