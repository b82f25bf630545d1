import { ProcessStarter } from "@qtasks/core";
import type { Command } from "../args";
import { connectApp } from "../connect";
import { componentLabel, describeApp } from "../describe";
import { ExitCode } from "../errors";
import type { CliIo } from "../io";
import { loadWithLogging } from "./shared";

type RunCommand = Extract<Command, { name: "run" }>;

/**
 * `qtasks run`: load, connect, log one start line, then run a worker until SIGTERM/SIGINT; on the
 * signal stop claiming, give running tasks the shutdown timeout, release the rest, resolve 0. A
 * second signal exits at once (core's `ProcessStarter`).
 */
export async function runCommand(cmd: RunCommand, io: CliIo): Promise<number> {
  const { app, exportName } = await loadWithLogging(cmd, io, "info");
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
  });

  await new ProcessStarter(app, { concurrency, shutdownTimeout }).run();
  return ExitCode.ok;
}
