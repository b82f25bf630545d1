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

export const BROKERS = ["memory"] as const;
export const STORAGES = ["memory"] as const;

/**
 * Builds the components the env asks for. Each adapter reads its own connection env var
 * (`REDIS_URL`, `AMQP_URL`, `DATABASE_URL`) and defaults to the local service. Adapters are imported
 * lazily, so the in-memory default needs none of them.
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
  return out;
}
