import { spawn } from "node:child_process";
import { inspect } from "node:util";
import { RabbitMQBroker } from "@qtasks/broker-rabbitmq";
import { RedisBroker } from "@qtasks/broker-redis";
import { type Broker, type Logger, QueueTasks, type Storage } from "@qtasks/core";
import { PostgresStorage } from "@qtasks/storage-postgres";
import { RedisStorage } from "@qtasks/storage-redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../../src/harness";
import { recordRow } from "../../src/report";

const CANARY = "canary-Pa55w0rd-7f3a9c";

function capture(lines: string[]): Logger {
  const write = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${message} ${inspect(fields, { depth: 8 })}`);
  };
  const logger: Logger = {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: () => logger,
  };
  return logger;
}

// The shared Redis has no password (any AUTH succeeds): a Redis of our own refuses the canary.
const authPort = 6900 + Math.floor(Math.random() * 90);
let authRedis: ReturnType<typeof spawn> | undefined;
beforeAll(async () => {
  authRedis = spawn(
    "redis-server",
    [
      "--port",
      String(authPort),
      "--bind",
      "127.0.0.1",
      "--requirepass",
      "the-real-one",
      "--save",
      "",
      "--appendonly",
      "no",
    ],
    { stdio: "ignore" },
  );
  const { Redis } = await import("ioredis");
  await until(
    async () => {
      const r = new Redis({
        port: authPort,
        password: "the-real-one",
        lazyConnect: true,
        maxRetriesPerRequest: 0,
      });
      // Refused until the server is up: without a listener ioredis prints "Unhandled error event".
      r.on("error", () => {});
      try {
        await r.connect();
        return (await r.ping()) === "PONG";
      } catch {
        return false;
      } finally {
        r.disconnect();
      }
    },
    20,
    "the password-protected Redis",
  );
});
afterAll(() => {
  authRedis?.kill("SIGKILL");
});

interface Case {
  name: string;
  make(): { broker?: Broker; storage?: Storage };
}

// Every way a connection can fail, each with the canary in its URL.
const cases: Case[] = [
  {
    name: "redis broker, refused",
    make: () => ({ broker: new RedisBroker({ url: `redis://user:${CANARY}@127.0.0.1:6391` }) }),
  },
  {
    name: "redis broker, bad password",
    make: () => ({ broker: new RedisBroker({ url: `redis://default:${CANARY}@127.0.0.1:${authPort}` }) }),
  },
  {
    name: "redis broker, DNS failure",
    make: () => ({
      broker: new RedisBroker({ url: `redis://user:${CANARY}@qtasks-no-such-host.invalid:6379` }),
    }),
  },
  {
    name: "redis storage, refused",
    make: () => ({ storage: new RedisStorage({ url: `redis://user:${CANARY}@127.0.0.1:6391` }) }),
  },
  {
    name: "redis storage, bad password",
    make: () => ({ storage: new RedisStorage({ url: `redis://default:${CANARY}@127.0.0.1:${authPort}` }) }),
  },
  {
    name: "redis storage, DNS failure",
    make: () => ({
      storage: new RedisStorage({ url: `redis://u:${CANARY}@qtasks-no-such-host.invalid:6379` }),
    }),
  },
  {
    name: "postgres, refused",
    make: () => ({
      storage: new PostgresStorage({
        connectionString: `postgres://u:${CANARY}@127.0.0.1:5439/test`,
        startupDeadlineSeconds: 2,
      }),
    }),
  },
  {
    name: "postgres, unknown role",
    make: () => ({
      storage: new PostgresStorage({
        connectionString: `postgres://nobody_${Date.now()}:${CANARY}@127.0.0.1:5432/test`,
        startupDeadlineSeconds: 2,
      }),
    }),
  },
  {
    name: "postgres, DNS failure",
    make: () => ({
      storage: new PostgresStorage({
        connectionString: `postgres://u:${CANARY}@qtasks-no-such-host.invalid:5432/test`,
        startupDeadlineSeconds: 2,
      }),
    }),
  },
  {
    name: "rabbitmq, refused",
    make: () => ({ broker: new RabbitMQBroker({ url: `amqp://guest:${CANARY}@127.0.0.1:5679` }) }),
  },
  {
    name: "rabbitmq, bad password",
    make: () => ({ broker: new RabbitMQBroker({ url: `amqp://guest:${CANARY}@127.0.0.1:5672` }) }),
  },
  {
    name: "rabbitmq, DNS failure",
    make: () => ({
      broker: new RabbitMQBroker({ url: `amqp://guest:${CANARY}@qtasks-no-such-host.invalid:5672` }),
    }),
  },
];

describe("11. credentials never appear in logs, errors or events", () => {
  it.each(cases)("$name", async ({ name, make }) => {
    const lines: string[] = [];
    const { broker, storage } = make();
    const app = new QueueTasks({
      name: `cred_${Math.random().toString(36).slice(2, 8)}`,
      ...(broker ? { broker } : {}),
      ...(storage ? { storage } : {}),
      logger: capture(lines),
    });
    const events: string[] = [];
    for (const e of ["task:enqueue", "task:error", "plugin:error", "worker:start"] as const)
      app.events.on(e, (p) => events.push(inspect(p, { depth: 8 })));
    const error = await Promise.race([
      app.addTask("rel.work", { id: "x" }).then(
        () => undefined,
        (e: unknown) => e,
      ),
      new Promise((r) => setTimeout(() => r("no error within 30 s"), 30_000)),
    ]);
    await app.stop({ timeout: 0 }).catch(() => {});
    expect(error).toBeInstanceOf(Error);
    const text = [inspect(error, { depth: 10 }), String((error as Error).stack), ...lines, ...events].join(
      "\n",
    );
    recordRow({
      scenario: "11 credentials",
      backend: name,
      notes: `${(error as { code?: string }).code ?? (error as Error).name}; canary absent`,
    });
    expect(text).not.toContain(CANARY);
  });
});
