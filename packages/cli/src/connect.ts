import type { QueueTasks } from "@qtasks/core";
import { componentLabel, describeComponent } from "./describe";
import { CliError, errorMessage, UnreachableError } from "./errors";

/** Rejects with `onTimeout()` if `promise` has not settled within `seconds`. */
export async function within<T>(promise: Promise<T>, seconds: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), seconds * 1000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function services(app: QueueTasks): string {
  return `broker ${componentLabel(describeComponent(app.broker))}, storage ${componentLabel(describeComponent(app.storage))}`;
}

/**
 * Connects the app's broker, storage and GlobalConfig, or throws `UnreachableError` (exit 5) when
 * that fails or takes longer than `seconds` (drivers that retry forever would otherwise hang).
 */
export async function connectApp(app: QueueTasks, seconds: number): Promise<void> {
  try {
    await within(
      app.connect(),
      seconds,
      () => new UnreachableError(`could not reach the services within ${seconds}s (${services(app)})`),
    );
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new UnreachableError(`could not connect (${services(app)}): ${errorMessage(error)}`, error);
  }
}

/** Runs a query against connected services; a service that stops answering is exit 5. */
export function query<T>(app: QueueTasks, seconds: number, run: () => Promise<T>): Promise<T> {
  return within(
    run(),
    Math.max(seconds, 5),
    () =>
      new UnreachableError(`the services did not answer within ${Math.max(seconds, 5)}s (${services(app)})`),
  );
}
