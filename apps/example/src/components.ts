import type { Broker, GlobalConfig, Storage } from "@qtasks/core";

/** Which broker and storage the example runs on, from `QTASKS_BROKER` / `QTASKS_STORAGE`. */
export interface Components {
  broker?: Broker;
  storage?: Storage;
  globalConfig?: GlobalConfig;
  /** e.g. `broker=redis storage=postgres`. */
  label: string;
  /** Whether a worker in another process can share them (false for the in-memory default). */
  shared: boolean;
}

export const BROKERS = ["memory", "redis", "rabbitmq"] as const;
export const STORAGES = ["memory", "redis", "postgres"] as const;

/**
 * Builds the components the env asks for. Each adapter reads its own connection env var
 * (`REDIS_URL`, `AMQP_URL`, `DATABASE_URL`) and defaults to the local service; keys, queues and the
 * schema are namespaced by the app name (`QTASKS_APP_NAME`, default `example`). Adapters are
 * imported lazily, so the in-memory default loads none of them.
 */
export async function componentsFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<Components> {
  const brokerKind = env.QTASKS_BROKER ?? "memory";
  const storageKind = env.QTASKS_STORAGE ?? "memory";
  if (!(BROKERS as readonly string[]).includes(brokerKind))
    throw new Error(`QTASKS_BROKER must be one of ${BROKERS.join(", ")}; got ${JSON.stringify(brokerKind)}`);
  if (!(STORAGES as readonly string[]).includes(storageKind))
    throw new Error(
      `QTASKS_STORAGE must be one of ${STORAGES.join(", ")}; got ${JSON.stringify(storageKind)}`,
    );
  const out: Components = {
    label: `broker=${brokerKind} storage=${storageKind}`,
    shared: brokerKind !== "memory" && storageKind !== "memory",
  };

  if (brokerKind === "redis") {
    const { RedisBroker } = await import("@qtasks/broker-redis");
    out.broker = new RedisBroker();
  } else if (brokerKind === "rabbitmq") {
    const { RabbitMQBroker } = await import("@qtasks/broker-rabbitmq");
    out.broker = new RabbitMQBroker();
  }

  if (storageKind === "redis") {
    const { RedisGlobalConfig, RedisStorage } = await import("@qtasks/storage-redis");
    out.storage = new RedisStorage();
    out.globalConfig = new RedisGlobalConfig();
  } else if (storageKind === "postgres") {
    const { PostgresGlobalConfig, PostgresStorage } = await import("@qtasks/storage-postgres");
    // One schema per app name, so demos (and their tests) never mix records.
    const schema =
      `qtasks_${(env.QTASKS_APP_NAME ?? "example").toLowerCase().replace(/[^a-z0-9_]/g, "_")}`.slice(0, 56);
    out.storage = new PostgresStorage({ schema });
    out.globalConfig = new PostgresGlobalConfig({ schema });
  }
  return out;
}
