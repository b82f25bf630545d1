import { maskUrl, type QueueTasks } from "@qtasks/core";
import { scrub } from "./errors";

/** What the start line and `stats` say about a component. */
export interface ComponentInfo {
  name: string;
  /** The connection URL, masked, when the component exposes one. */
  url?: string;
}

/** Property names adapters commonly use for their connection URL (read only, never logged raw). */
const URL_KEYS = ["url", "connectionUrl", "connectionString", "displayUrl", "where"] as const;

/** The env var each first-party adapter reads when its options name no URL (see DESIGN.md). */
const CONVENTIONAL_ENV: Record<string, string> = {
  redis: "REDIS_URL",
  postgres: "DATABASE_URL",
  postgresql: "DATABASE_URL",
  rabbitmq: "AMQP_URL",
  amqp: "AMQP_URL",
};

/**
 * Names a component for humans: its `name` and where it connects (masked). The contracts' optional
 * `target` says it; for components that do not set it (third-party ones), the rest is looked up by
 * shape: a URL property on the component or its options; else, for an adapter built without a
 * client, the conventional env var it reads (or "local default").
 */
export function describeComponent(component: unknown, env: NodeJS.ProcessEnv = process.env): ComponentInfo {
  const c = (component ?? {}) as Record<string, unknown>;
  const name = typeof c.name === "string" && c.name ? c.name : (c.constructor?.name ?? "unknown");
  // Masked again: a third-party `target` might carry a password by mistake. A target is text that
  // may go on after its URL (RabbitMQ's says `amqp://h:5672 queue qtasks.shop`): mask the URLs in it.
  if (typeof c.target === "string" && c.target) return { name, url: scrub(c.target) };
  const options = [c.options, c.config].find(
    (s): s is Record<string, unknown> => !!s && typeof s === "object",
  );
  for (const source of options ? [c, options] : [c])
    for (const key of URL_KEYS) {
      let value: unknown;
      try {
        value = source[key];
      } catch {
        continue;
      }
      if (typeof value === "string" && value.includes("://")) return { name, url: maskUrl(value) };
    }
  const envVar = CONVENTIONAL_ENV[name];
  if (envVar) {
    if (options && options.client !== undefined && options.client !== null)
      return { name, url: "given client" };
    const fromEnv = env[envVar];
    return { name, url: fromEnv ? maskUrl(fromEnv) : "local default" };
  }
  return { name };
}

export function componentLabel(info: ComponentInfo): string {
  return info.url ? `${info.name} (${info.url})` : info.name;
}

/** Everything the start line names. */
export interface AppDescription {
  app: string;
  broker: ComponentInfo;
  storage: ComponentInfo;
  globalConfig: ComponentInfo;
  tasks: string[];
}

export function describeApp(app: QueueTasks): AppDescription {
  return {
    app: app.name,
    broker: describeComponent(app.broker),
    storage: describeComponent(app.storage),
    globalConfig: describeComponent(app.globalConfig),
    tasks: app
      .listTasks()
      .map((t) => t.taskName)
      .sort(),
  };
}
