import { execFile } from "node:child_process";
import { userInfo } from "node:os";
import { promisify } from "node:util";
import { RabbitMQBroker } from "@qtasks/broker-rabbitmq";
import { RedisBroker } from "@qtasks/broker-redis";
import type { Broker, Storage } from "@qtasks/core";
import { PostgresStorage } from "@qtasks/storage-postgres";
import { RedisStorage } from "@qtasks/storage-redis";
import amqp from "amqplib";
import { Redis } from "ioredis";
import pg from "pg";

const run = promisify(execFile);

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://127.0.0.1:5432/test";
export const AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/** A pg client config for admin work; the OS user stands in when the URL names none and $USER is unset. */
export function adminPg(url = DATABASE_URL): pg.ClientConfig {
  // pg lets the connection string's (empty) user win over a `user` option: put it in the URL.
  const u = new URL(url);
  if (!u.username) u.username = process.env.PGUSER ?? userInfo().username;
  return { connectionString: u.toString() };
}

export type BrokerKind = "redis" | "rabbitmq";
export type StorageKind = "redis" | "postgres";

/** One broker + storage pairing under test, e.g. `redis+postgres`. */
export interface Backend {
  broker: BrokerKind;
  storage: StorageKind;
  label: string;
}

export const BACKENDS: Backend[] = [
  { broker: "redis", storage: "redis", label: "redis+redis" },
  { broker: "redis", storage: "postgres", label: "redis+postgres" },
  { broker: "rabbitmq", storage: "redis", label: "rabbitmq+redis" },
  { broker: "rabbitmq", storage: "postgres", label: "rabbitmq+postgres" },
];

/** Everything a scenario's processes need to build the same app: passed to workers by env. */
export interface BackendConfig {
  broker: BrokerKind;
  storage: StorageKind;
  /** The app name: every key, queue and schema of the scenario derives from it. */
  appName: string;
  leaseSeconds: number;
  deliveryLimit: number;
  redisUrl?: string;
  databaseUrl?: string;
  amqpUrl?: string;
  /** AMQP heartbeat in seconds (a blocked worker is detected after about twice this). */
  heartbeat?: number;
}

export function schemaOf(appName: string): string {
  return appName.replace(/[^a-z0-9_]/g, "_");
}

export function makeBroker(c: BackendConfig): Broker {
  if (c.broker === "redis")
    return new RedisBroker({
      url: c.redisUrl ?? REDIS_URL,
      leaseSeconds: c.leaseSeconds,
      deliveryLimit: c.deliveryLimit,
      sweepIntervalMs: 250,
    });
  return new RabbitMQBroker({
    url: c.amqpUrl ?? AMQP_URL,
    leaseSeconds: c.leaseSeconds,
    deliveryLimit: c.deliveryLimit,
    reconnect: { initialDelay: 0.1, maxDelay: 1 },
    ...(c.heartbeat === undefined ? {} : { heartbeat: c.heartbeat }),
  });
}

export function makeStorage(c: BackendConfig): Storage {
  if (c.storage === "redis") return new RedisStorage({ url: c.redisUrl ?? REDIS_URL });
  return new PostgresStorage({
    connectionString: c.databaseUrl ?? DATABASE_URL,
    schema: schemaOf(c.appName),
    applicationName: c.appName,
    startupDeadlineSeconds: 20,
  });
}

/** Removes every key, queue and schema the scenario's app created. */
export async function cleanup(c: BackendConfig): Promise<void> {
  const redis = new Redis(c.redisUrl ?? REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `*{${c.appName}}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } catch {
    // A Redis the scenario stopped itself is gone with its data.
  } finally {
    redis.disconnect();
  }
  // Each step on its own: one failing must not leave the others' leftovers behind.
  const failures: unknown[] = [];
  if (c.storage === "postgres") {
    const client = new pg.Client(adminPg(c.databaseUrl ?? DATABASE_URL));
    try {
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schemaOf(c.appName)}" CASCADE`);
    } catch (error) {
      failures.push(error);
    } finally {
      await client.end().catch(() => {});
    }
  }
  if (c.broker === "rabbitmq")
    await deleteQueues(`qtasks.${c.appName}`, c.amqpUrl ?? AMQP_URL).catch((e) => failures.push(e));
  if (failures.length > 0) throw new AggregateError(failures, `cleanup of ${c.appName} failed`);
}

async function deleteQueues(prefix: string, url: string): Promise<void> {
  const { stdout } = await run("rabbitmqctl", ["list_queues", "-q", "--no-table-headers", "name"]);
  const names = stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((n) => n.startsWith(prefix));
  if (names.length === 0) return;
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    for (const n of names) await ch.deleteQueue(n);
    await ch.close();
  } finally {
    await conn.close();
  }
}
