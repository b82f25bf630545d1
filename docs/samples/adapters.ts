import { RabbitMQBroker } from "@qtasks/broker-rabbitmq";
import { RedisBroker } from "@qtasks/broker-redis";
import { QueueTasks } from "@qtasks/core";
import { PostgresGlobalConfig, PostgresStorage } from "@qtasks/storage-postgres";
import { RedisGlobalConfig, RedisStorage } from "@qtasks/storage-redis";
import { Redis } from "ioredis";
import pg from "pg";

// #region redis
// Redis only: REDIS_URL, else redis://127.0.0.1:6379.
export const shop = new QueueTasks({
  name: "shop",
  broker: new RedisBroker({ leaseSeconds: 60 }),
  storage: new RedisStorage({ retentionSeconds: 7 * 24 * 3600 }),
  globalConfig: new RedisGlobalConfig(),
});
// #endregion redis

// #region rabbit-postgres
// RabbitMQ for transport, PostgreSQL for records: AMQP_URL and DATABASE_URL, else the local services.
export const billing = new QueueTasks({
  name: "billing",
  broker: new RabbitMQBroker({ maxPriority: 10, consumerTimeout: 3600 }),
  storage: new PostgresStorage({ schema: "billing", retention: { olderThanSeconds: 30 * 24 * 3600 } }),
  globalConfig: new PostgresGlobalConfig({ schema: "billing" }),
});
// #endregion rabbit-postgres

// #region clients
const redis = new Redis("redis://redis.internal:6379");
const pool = new pg.Pool({ connectionString: "postgres://reports@db.internal:5432/reports", max: 20 });

export const reports = new QueueTasks({
  name: "reports",
  broker: new RedisBroker({ client: redis }),
  storage: new PostgresStorage({ client: pool }),
});
// #endregion clients
