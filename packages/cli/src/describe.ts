import { maskUrl, type QueueTasks } from "@qtasks/core";

/** What the start line and `stats` say about a component. */
export interface ComponentInfo {
  name: string;
  /** The connection URL, masked, when the component exposes one. */
  url?: string;
}

/** Property names adapters commonly use for their connection URL (read only, never logged raw). */
const URL_KEYS = ["url", "connectionUrl", "connectionString", "displayUrl"] as const;

/**
 * Names a component for humans: its `name` and, where it exposes one, its connection URL masked.
 * The contracts only promise `name`, so anything else is looked up by shape.
 */
export function describeComponent(component: unknown): ComponentInfo {
  const c = (component ?? {}) as Record<string, unknown>;
  const name = typeof c.name === "string" && c.name ? c.name : (c.constructor?.name ?? "unknown");
  const sources = [c, c.options, c.config].filter(
    (s): s is Record<string, unknown> => !!s && typeof s === "object",
  );
  for (const source of sources)
    for (const key of URL_KEYS) {
      let value: unknown;
      try {
        value = source[key];
      } catch {
        continue;
      }
      if (typeof value === "string" && value.includes("://")) return { name, url: maskUrl(value) };
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
