import { userInfo } from "node:os";
import { ConnectionError, type Logger } from "@qtasks/core";
import pg from "pg";

/** The local default when neither options nor `DATABASE_URL` name a database. */
export const DEFAULT_DATABASE_URL = "postgres://127.0.0.1:5432/test";

/** Where a connection goes, without credentials: for logs and errors. */
export interface ConnectionTarget {
  host: string;
  port: number;
  database: string;
  user: string | undefined;
}

/** PostgreSQL could not be reached (or refused us) until the start-up deadline passed. */
export class PostgresUnreachableError extends ConnectionError {
  constructor(
    readonly target: ConnectionTarget,
    readonly attempts: number,
    readonly deadlineSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(
      "postgres",
      `could not connect to PostgreSQL at ${describeTarget(target)} after ${attempts} attempt(s) within ${deadlineSeconds}s: ${
        options?.cause === undefined ? "unknown error" : errorText(options.cause)
      }`,
      options,
    );
  }
}

/**
 * Resolves the client configuration: explicit `connectionString`, else the pool options when they name
 * a server, else `DATABASE_URL`, else the local default.
 */
export function resolveClientConfig(options: {
  connectionString?: string;
  pool?: pg.PoolConfig;
}): pg.PoolConfig {
  const pool = { ...(options.pool ?? {}) };
  if (options.connectionString) return { ...pool, connectionString: options.connectionString };
  if (pool.connectionString || pool.host) return pool;
  return { ...pool, connectionString: process.env.DATABASE_URL || DEFAULT_DATABASE_URL };
}

/** Host, port, database and user of a configuration, as the driver resolves them (no I/O). */
export function targetOf(config: pg.ClientConfig): {
  target: ConnectionTarget;
  password: string | undefined;
} {
  // A Client does not connect until `connect()`: constructing one is the driver's own parser.
  const c = new pg.Client(config) as unknown as {
    host: string;
    port: number;
    database: string;
    user?: string;
    password?: unknown;
  };
  const password = typeof c.password === "string" && c.password.length > 0 ? c.password : undefined;
  return {
    target: { host: c.host, port: Number(c.port), database: c.database, user: c.user },
    password,
  };
}

/**
 * Like libpq, fall back to the operating-system user when neither the options, the URL nor `PGUSER`
 * name one (the driver only reads `$USER`, which services and containers often lack).
 */
export function withDefaultUser(config: pg.PoolConfig): pg.PoolConfig {
  if (targetOf(config).target.user) return config;
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    return config;
  }
  if (!user) return config;
  if (config.connectionString) {
    // The driver lets URL fields (even absent ones) override `user`: put it into the URL instead.
    try {
      const u = new URL(config.connectionString);
      if (!u.username) u.username = encodeURIComponent(user);
      return { ...config, connectionString: u.toString() };
    } catch {
      return config;
    }
  }
  return { ...config, user };
}

export function describeTarget(t: ConnectionTarget): string {
  const host = t.host.includes(":") && !t.host.startsWith("/") ? `[${t.host}]` : t.host;
  return `${host}:${t.port}/${t.database}`;
}

/** A readable one-line description of a driver error (Node's AggregateError has an empty message). */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const inner = (err as { errors?: unknown }).errors;
  if (!err.message && Array.isArray(inner) && inner.length > 0) {
    return inner.map((e) => (e instanceof Error ? e.message : String(e))).join("; ");
  }
  return err.message || (err as { code?: string }).code || err.name;
}

/** An error message with the password (if any) replaced, for logs and errors. */
export function scrub(message: string, password: string | undefined): string {
  if (!password) return message;
  return message.split(password).join("***");
}

/** Driver and server errors after which the same statement may succeed on a new connection. */
export function isTransient(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e) return false;
  const code = typeof e.code === "string" ? e.code : "";
  if (code.startsWith("08")) return true; // connection exception
  if (code === "57P01" || code === "57P02" || code === "57P03") return true; // shutdown, crash, starting
  if (code === "40001" || code === "40P01") return true; // serialization failure, deadlock
  if (["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "ENOTCONN", "EHOSTUNREACH"].includes(code)) {
    return true;
  }
  const msg = typeof e.message === "string" ? e.message : "";
  return /Connection terminated|connection error|not queryable|Client was closed|timeout exceeded when trying to connect/i.test(
    msg,
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Exponential backoff with jitter, capped. */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

/** Errors worth retrying at start-up: the server is down, starting, unreachable or refuses us for now. */
export function isStartupRetryable(err: unknown): boolean {
  if (isTransient(err)) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return true; // network-level (DNS, TLS, timeout)
  return code.startsWith("28") || code === "3D000" || code === "53300" || code.startsWith("E");
}

/** A copy of a driver error safe to attach as `cause` (message without the password). */
export function scrubbedError(err: unknown, password: string | undefined): unknown {
  if (!(err instanceof Error) || !password) return err;
  const copy = new Error(scrub(errorText(err), password));
  copy.name = err.name;
  (copy as { code?: unknown }).code = (err as { code?: unknown }).code;
  return copy;
}

/**
 * Runs `attempt` until it succeeds, logging one line per failed attempt (host, port, database, never
 * the password) with capped exponential backoff; past `deadlineSeconds` throws
 * `PostgresUnreachableError` (a non-retryable failure throws `ConnectionError` at once).
 */
/**
 * A pool this package creates (and so ends): TCP keep-alive so a silently dead peer is noticed in
 * about a minute rather than the OS default of two hours, and an 'error' handler, without which an
 * idle connection that dies (server restart, pg_terminate_backend) would crash the process.
 */
export function createOwnedPool(
  clientConfig: pg.ClientConfig,
  options: { max: number; connectionTimeoutMillis: number },
  logger: Logger,
  password: string | undefined,
): pg.Pool {
  const pool = new pg.Pool({
    max: options.max,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    connectionTimeoutMillis: options.connectionTimeoutMillis,
    ...clientConfig,
  });
  pool.on("error", (err) => {
    logger.warn("idle PostgreSQL connection lost", { error: scrub(err.message, password) });
  });
  return pool;
}

export async function retryStartup(options: {
  target: ConnectionTarget;
  password: string | undefined;
  logger: Logger;
  deadlineSeconds: number;
  attempt: () => Promise<void>;
}): Promise<void> {
  const { target, password, logger, deadlineSeconds } = options;
  const deadline = Date.now() + deadlineSeconds * 1000;
  const where = describeTarget(target);
  const fields = { host: target.host, port: target.port, database: target.database };
  for (let attempt = 1; ; attempt++) {
    try {
      await options.attempt();
      return;
    } catch (err) {
      const message = scrub(errorText(err), password);
      const now = Date.now();
      if (!isStartupRetryable(err)) {
        throw new ConnectionError("postgres", `start-up failed at ${where}: ${message}`, {
          cause: scrubbedError(err, password),
        });
      }
      if (now >= deadline) {
        const error = new PostgresUnreachableError(target, attempt, deadlineSeconds, {
          cause: scrubbedError(err, password),
        });
        logger.error(`PostgreSQL not reachable at ${where} (attempt ${attempt}); giving up: ${message}`, {
          ...fields,
          attempt,
        });
        throw error;
      }
      const delay = Math.min(backoffMs(attempt, 250, 5000), Math.max(0, deadline - now));
      logger.warn(
        `PostgreSQL not reachable at ${where} (attempt ${attempt}); retrying in ${(delay / 1000).toFixed(1)}s: ${message}`,
        { ...fields, attempt },
      );
      await sleep(delay);
    }
  }
}
