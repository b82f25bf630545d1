import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type Broker, QueueTasks, type Storage } from "@qtasks/core";
import amqp from "amqplib";
import pg from "pg";
import { AMQP_URL, DATABASE_URL, sleep } from "../env";
import type { Instance, Service, Subject } from "../types";
import { deleteKeys } from "./bullmq";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

// biome-ignore lint/suspicious/noExplicitAny: adapters are loaded by name and may not exist yet
type AnyModule = Record<string, any>;

/**
 * Loads an adapter package if it is in this checkout: by name when the bench depends on it, else
 * from its built `dist` in `packages/<dir>`. A package that is not there yet is simply absent.
 */
async function loadAdapter(name: string): Promise<AnyModule | string> {
  try {
    return (await import(name)) as AnyModule;
  } catch {}
  const dir = name.replace("@qtasks/", "");
  const dist = resolve(ROOT, "packages", dir, "dist/index.js");
  if (existsSync(dist)) return (await import(pathToFileURL(dist).href)) as AnyModule;
  if (existsSync(resolve(ROOT, "packages", dir, "package.json")))
    return `${name} is in packages/ but not built (run pnpm build)`;
  return `${name} is not on this branch yet`;
}

/** What one qtasks configuration needs: its broker and storage, built for one run. */
interface Parts {
  broker?: Broker;
  storage?: Storage;
}

/** One qtasks configuration: which adapters it needs and how to build them. Add one to `qtasksConfigs`. */
interface QtasksConfig {
  id: string;
  label: string;
  services: Service[];
  settings: string;
  packages: string[];
  build(mods: AnyModule[], appName: string): Parts;
}

export const qtasksConfigs: QtasksConfig[] = [
  {
    id: "qtasks-memory",
    label: "qtasks in-memory",
    services: [],
    settings: "new QueueTasks(): MemoryBroker + MemoryStorage, this process only (not durable)",
    packages: [],
    build: () => ({}),
  },
  {
    id: "qtasks-redis-redis",
    label: "qtasks Redis+Redis",
    services: ["redis"],
    settings: "RedisBroker (leases, at-least-once) + RedisStorage (results kept), defaults",
    packages: ["@qtasks/broker-redis", "@qtasks/storage-redis"],
    build: ([b, s]) => ({ broker: new b!.RedisBroker({}), storage: new s!.RedisStorage({}) }),
  },
  {
    id: "qtasks-redis-postgres",
    label: "qtasks Redis+PostgreSQL",
    services: ["redis", "postgres"],
    settings: "RedisBroker + PostgresStorage (own schema per run, batched writes), defaults",
    packages: ["@qtasks/broker-redis", "@qtasks/storage-postgres"],
    build: ([b, s], app) => ({
      broker: new b!.RedisBroker({}),
      storage: new s!.PostgresStorage({ schema: app }),
    }),
  },
  {
    id: "qtasks-rabbitmq-redis",
    label: "qtasks RabbitMQ+Redis",
    services: ["rabbitmq", "redis"],
    settings: "RabbitMQBroker (confirms, manual acks) + RedisStorage, defaults",
    packages: ["@qtasks/broker-rabbitmq", "@qtasks/storage-redis"],
    build: ([b, s]) => ({ broker: new b!.RabbitMQBroker({}), storage: new s!.RedisStorage({}) }),
  },
  {
    id: "qtasks-rabbitmq-postgres",
    label: "qtasks RabbitMQ+PostgreSQL",
    services: ["rabbitmq", "postgres"],
    settings: "RabbitMQBroker + PostgresStorage (own schema per run), defaults",
    packages: ["@qtasks/broker-rabbitmq", "@qtasks/storage-postgres"],
    build: ([b, s], app) => ({
      broker: new b!.RabbitMQBroker({}),
      storage: new s!.PostgresStorage({ schema: app }),
    }),
  },
];

/** Deletes what an app named `app` may have left in each service. */
async function cleanupServices(app: string, services: Service[]): Promise<void> {
  if (services.includes("redis")) await deleteKeys(`*${app}*`).catch(() => {});
  if (services.includes("postgres")) {
    const c = new pg.Client({ connectionString: DATABASE_URL });
    try {
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${app}" CASCADE`);
    } catch {
    } finally {
      await c.end().catch(() => {});
    }
  }
  if (services.includes("rabbitmq")) {
    try {
      const c = await amqp.connect(AMQP_URL);
      const ch = await c.createChannel();
      ch.on("error", () => {});
      for (const q of [`qtasks.${app}`, `qtasks.${app}.dead`]) await ch.deleteQueue(q).catch(() => {});
      await c.close().catch(() => {});
    } catch {}
  }
}

function subjectOf(config: QtasksConfig): Subject {
  let mods: AnyModule[] | undefined;
  return {
    id: config.id,
    label: config.label,
    kind: "qtasks",
    services: config.services,
    settings: config.settings,
    async available() {
      const loaded = await Promise.all(config.packages.map(loadAdapter));
      const missing = loaded.find((m): m is string => typeof m === "string");
      if (missing) return missing;
      mods = loaded as AnyModule[];
      return null;
    },
    async create(tag) {
      const appName = `bench_${tag}`;
      let onRun: (i: number) => void = () => {};
      const app = new QueueTasks({ name: appName, ...config.build(mods ?? [], appName) });
      app.task({ name: "noop" }, async (p: { i: number }) => {
        onRun(p.i);
      });
      await app.connect();
      const inst: Instance = {
        async add(i) {
          await app.addTask("noop", { i });
        },
        async addBulk(items) {
          await app.addTasks(items.map((i) => ({ task: "noop", args: [{ i }] })));
        },
        async startWorker(concurrency, run) {
          onRun = run;
          await app.start({ concurrency });
        },
        async finalCount() {
          return (await app.storage.count()).success;
        },
        async states() {
          return { ...(await app.storage.count()) };
        },
        async close() {
          await app.stop({ timeout: 5 }).catch(() => {});
          await sleep(0);
          await cleanupServices(appName, config.services);
        },
      };
      return inst;
    },
  };
}

export const qtasksSubjects: Subject[] = qtasksConfigs.map(subjectOf);
