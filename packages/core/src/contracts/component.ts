import type { Logger } from "./logger";

/**
 * What the app hands a broker or storage when it starts it. The component keeps the logger for its
 * own messages and uses `appName` to namespace what it creates (key prefix, queue name, ...), unless
 * its own options name the namespace explicitly.
 */
export interface ComponentContext {
  /** The app's name (`QueueTasks({ name })`, default `"qtasks"`). Validated: `[A-Za-z0-9_.-]{1,100}`. */
  appName: string;
  logger: Logger;
}
