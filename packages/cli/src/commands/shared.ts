import type { QueueTasks } from "@qtasks/core";
import type { CommonOptions } from "../args";
import { connectApp, within } from "../connect";
import type { CliIo } from "../io";
import { type LoadedApp, loadApp } from "../load-app";

/**
 * Sets the log level and format the app's default logger reads (it reads them when the app is
 * built, so before the app file is imported), then loads the app.
 */
export async function loadWithLogging(
  options: CommonOptions,
  io: CliIo,
  defaultLevel: "info" | "warn",
): Promise<LoadedApp> {
  const level = options.logLevel ?? io.env.QTASKS_LOG_LEVEL ?? defaultLevel;
  process.env.QTASKS_LOG_LEVEL = level;
  if (options.logFormat) process.env.QTASKS_LOG_FORMAT = options.logFormat;
  return loadApp(options.app, io.cwd);
}

/** Loads and connects the app, runs `fn`, then stops the app whatever happened. */
export async function withConnectedApp<T>(
  options: CommonOptions,
  io: CliIo,
  fn: (app: QueueTasks) => Promise<T>,
): Promise<T> {
  const { app } = await loadWithLogging(options, io, "warn");
  let connected = false;
  try {
    await connectApp(app, options.connectTimeout);
    connected = true;
    return await fn(app);
  } finally {
    // A query command owns no work: a slow close must not hold the shell (and a connection that
    // never came up may never settle).
    await within(app.stop({ timeout: 0 }), connected ? 5 : 1, () => new Error("stop timed out")).catch(
      () => {},
    );
  }
}
