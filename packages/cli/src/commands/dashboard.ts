import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import type { CommonOptions } from "../args";
import { connectApp, within } from "../connect";
import { CliError, ExitCode, UsageError } from "../errors";
import type { CliIo } from "../io";
import { loadWithLogging } from "./shared";

export const DASHBOARD_USAGE = `Usage: qtasks dashboard --app <file[#export]> [options]

Serves the web dashboard of the app (tasks, workers, live outputs, dead letters) until SIGTERM/SIGINT.
Read-only unless --actions is given.

Options:
  -A, --app <file[#export]>  the module exporting the QueueTasks app (default: $QTASKS_APP)
  -p, --port <n>             port to listen on (default 3000; 0 picks a free one)
  --host <address>           address to listen on (default 127.0.0.1: this machine only)
  --base-path <path>         serve under this path, e.g. /dash (default: the root)
  --actions                  allow cancel, retry and re-drive from the page (same-origin POSTs;
                             with $QTASKS_DASHBOARD_TOKEN set, scripts may send it instead)
  --connect-timeout <sec>    give up reaching the services after this long (default 10)
  --log-level <level>        debug, info, warn, error, silent (default warn)
  -v, --verbose              print stack traces on errors
  -h, --help                 this text`;

const OPTIONS = {
  app: { type: "string", short: "A" },
  port: { type: "string", short: "p" },
  host: { type: "string" },
  "base-path": { type: "string" },
  actions: { type: "boolean" },
  "connect-timeout": { type: "string" },
  "log-level": { type: "string" },
  verbose: { type: "boolean", short: "v" },
  help: { type: "boolean", short: "h" },
} as const;

/** `@qtasks/dashboard` (an optional peer of the CLI) is not installed. */
export class DashboardMissingError extends CliError {
  constructor(cause: unknown) {
    super(
      "QTASKS_CLI_DASHBOARD_MISSING",
      "qtasks dashboard needs @qtasks/dashboard: npm install @qtasks/dashboard",
      ExitCode.error,
      { cause },
    );
  }
}

/** Loaded only for this command: the other commands do not pay for it, nor need it installed. */
async function loadDashboard(): Promise<typeof import("@qtasks/dashboard")> {
  try {
    return await import("@qtasks/dashboard");
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND")
      throw new DashboardMissingError(error);
    throw error;
  }
}

/**
 * `qtasks dashboard`: load and connect the app (no worker), serve `@qtasks/dashboard` on node:http,
 * print the URL, and on SIGTERM/SIGINT close the server and the app, then resolve 0. Parses its own
 * flags, so the other commands' parser is untouched.
 */
export async function dashboardCommand(argv: readonly string[], io: CliIo): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true }>>["values"];
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true }));
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    throw new UsageError(text.replace(/\s*\n\s*/g, " ").replace(/\.$/, ""));
  }
  if (values.help) {
    io.stdout.write(`${DASHBOARD_USAGE}\n`);
    return ExitCode.ok;
  }
  const appSpec = values.app ?? io.env.QTASKS_APP;
  if (!appSpec) throw new UsageError("dashboard needs --app <file[#export]> (or QTASKS_APP)");
  const port = values.port === undefined ? 3000 : Number(values.port);
  if (!/^\d+$/.test(values.port ?? "0") || !Number.isInteger(port) || port > 65535)
    throw new UsageError(`--port must be a port number (got ${JSON.stringify(values.port)})`);
  const connectTimeout = values["connect-timeout"] === undefined ? 10 : Number(values["connect-timeout"]);
  if (!Number.isFinite(connectTimeout) || connectTimeout < 0)
    throw new UsageError("--connect-timeout must be a number of seconds >= 0");
  const logLevel = values["log-level"];
  const common: CommonOptions = {
    app: appSpec,
    json: false,
    verbose: values.verbose ?? false,
    connectTimeout,
  };
  if (logLevel !== undefined) {
    if (!["debug", "info", "warn", "error", "silent"].includes(logLevel))
      throw new UsageError("--log-level must be one of debug, info, warn, error, silent");
    common.logLevel = logLevel as CommonOptions["logLevel"];
  }
  const token = io.env.QTASKS_DASHBOARD_TOKEN || undefined;

  const { createDashboard, toNodeHandler } = await loadDashboard();
  const { app } = await loadWithLogging(common, io, "warn");
  await connectApp(app, connectTimeout);
  const dashboard = createDashboard({
    app,
    basePath: values["base-path"] ?? "",
    ...(values.actions ? { authorize: () => true } : {}),
    ...(token ? { token } : {}),
  });
  const server = createServer(toNodeHandler(dashboard));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, values.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  io.stdout.write(
    `qtasks dashboard: http://${host}:${address.port}${dashboard.basePath}/ (${values.actions ? "actions on" : "read-only"}); Ctrl-C stops it\n`,
  );

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  // Open event streams would hold close() forever: end them.
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await within(app.stop({ timeout: 0 }), 5, () => new Error("stop timed out")).catch(() => {});
  return ExitCode.ok;
}
