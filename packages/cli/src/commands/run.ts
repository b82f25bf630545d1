import { ProcessStarter } from "@qtasks/core";
import type { Command } from "../args";
import { connectApp } from "../connect";
import { componentLabel, describeApp } from "../describe";
import { ExitCode, UsageError } from "../errors";
import type { CliIo } from "../io";
import { loadWithLogging } from "./shared";

type RunCommand = Extract<Command, { name: "run" }>;

/**
 * `qtasks run`: load, connect, log one start line, then run a worker until SIGTERM/SIGINT; on the
 * signal stop claiming, give running tasks the shutdown timeout, release the rest, resolve 0. A
 * second signal exits at once (core's `ProcessStarter`).
 */
export async function runCommand(cmd: RunCommand, io: CliIo): Promise<number> {
  // The @qtasks/opentelemetry plugin reads the port when the app file builds it.
  if (cmd.metricsPort !== undefined) process.env.QTASKS_METRICS_PORT = String(cmd.metricsPort);
  const { app, exportName } = await loadWithLogging(cmd, io, "info");
  if (cmd.metricsPort !== undefined && !app.plugins.some((p) => p.name === "opentelemetry"))
    throw new UsageError(
      "--metrics-port serves the metrics of the @qtasks/opentelemetry plugin, and the app has none: add new OpenTelemetryPlugin() to its plugins",
    );
  await connectApp(app, cmd.connectTimeout);

  const description = describeApp(app);
  const concurrency = cmd.concurrency ?? app.config.maxTasksProcess;
  const shutdownTimeout = cmd.shutdownTimeout ?? app.config.shutdownTimeout;
  app.logger.info("qtasks run", {
    export: exportName,
    broker: componentLabel(description.broker),
    storage: componentLabel(description.storage),
    globalConfig: componentLabel(description.globalConfig),
    tasks: description.tasks,
    concurrency,
    shutdownTimeout,
    ...(cmd.metricsPort === undefined ? {} : { metrics: `:${cmd.metricsPort}/metrics` }),
  });

  await new ProcessStarter(app, { concurrency, shutdownTimeout }).run();
  return ExitCode.ok;
}
