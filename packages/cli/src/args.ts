import { parseArgs } from "node:util";
import { UsageError } from "./errors";
import { didYouMean } from "./suggest";

export type LogLevelOption = "debug" | "info" | "warn" | "error" | "silent";

/** Flags every command takes. */
export interface CommonOptions {
  /** The app spec (`path[#export|:export]`); from `--app`, `-A` or `QTASKS_APP`. */
  app: string;
  json: boolean;
  verbose: boolean;
  logLevel?: LogLevelOption;
  logFormat?: "json" | "pretty";
  /** Seconds to wait for the broker, storage and GlobalConfig to connect. */
  connectTimeout: number;
}

export type Command =
  /** `missing`: no command was given (bare `qtasks`): usage goes to stderr and the exit code is 2. */
  | { name: "help"; topic?: string; missing?: true }
  | { name: "version" }
  | ({ name: "run"; concurrency?: number; shutdownTimeout?: number; metricsPort?: number } & CommonOptions)
  | ({ name: "inspect"; uuid: string } & CommonOptions)
  | ({ name: "stats" } & CommonOptions)
  | ({ name: "dead-letters-list"; limit: number } & CommonOptions)
  | ({ name: "dead-letters-redrive"; ids?: string[] } & CommonOptions);

const OPTIONS = {
  app: { type: "string", short: "A" },
  json: { type: "boolean" },
  verbose: { type: "boolean", short: "v" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  "connect-timeout": { type: "string" },
  concurrency: { type: "string", short: "c" },
  "shutdown-timeout": { type: "string" },
  "metrics-port": { type: "string" },
  limit: { type: "string" },
  all: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

/** Which command-specific flags each command accepts (the common ones go everywhere). */
const ONLY_FOR: Record<string, readonly string[]> = {
  concurrency: ["run"],
  "shutdown-timeout": ["run"],
  "metrics-port": ["run"],
  limit: ["dead-letters-list"],
  all: ["dead-letters-redrive"],
};

const LOG_LEVELS: readonly string[] = ["debug", "info", "warn", "error", "silent"];

export const COMMANDS = ["run", "inspect", "stats", "dead-letters", "dashboard", "help"] as const;

/** Parses `argv` (without `node` and the script) into a command. Throws `UsageError`. */
export function parseCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Command {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv),
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(parseArgsMessage(error));
  }
  const { values, positionals } = parsed;
  const [verb, ...rest] = positionals;

  if (values.version && !verb) return { name: "version" };
  if (verb === "help") return { name: "help", topic: helpTopic(rest[0]) };
  if (!verb) return values.help ? { name: "help" } : { name: "help", missing: true };
  if (values.help) return { name: "help", topic: helpTopic(verb) };

  let name: Exclude<Command["name"], "help" | "version">;
  let operands = rest;
  switch (verb) {
    case "run":
    case "stats":
      name = verb;
      break;
    case "inspect":
      name = "inspect";
      break;
    case "dead-letters":
    case "dlq": {
      const sub = rest[0];
      if (sub === "list") name = "dead-letters-list";
      else if (sub === "redrive") name = "dead-letters-redrive";
      else
        throw new UsageError(
          sub === undefined
            ? "dead-letters needs a subcommand: list or redrive"
            : `unknown dead-letters subcommand ${JSON.stringify(sub)}${didYouMean(sub, ["list", "redrive"])} (expected list or redrive)`,
        );
      operands = rest.slice(1);
      break;
    }
    default:
      throw unknownCommand(verb);
  }

  for (const [flag, commands] of Object.entries(ONLY_FOR)) {
    if (values[flag as keyof typeof values] !== undefined && !commands.includes(name))
      throw new UsageError(`--${flag} is not an option of ${displayName(name)}`);
  }

  const app = values.app ?? env.QTASKS_APP;
  if (!app) throw new UsageError(`${displayName(name)} needs --app <file[#export]> (or QTASKS_APP)`);
  const logLevel = values["log-level"];
  if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  const logFormat = values["log-format"];
  if (logFormat !== undefined && logFormat !== "json" && logFormat !== "pretty")
    throw new UsageError("--log-format must be json or pretty");
  const common: CommonOptions = {
    app,
    json: values.json ?? false,
    verbose: values.verbose ?? false,
    connectTimeout: seconds(values["connect-timeout"], "--connect-timeout") ?? 10,
  };
  if (logLevel !== undefined) common.logLevel = logLevel as LogLevelOption;
  if (logFormat !== undefined) common.logFormat = logFormat;

  switch (name) {
    case "run": {
      noOperands(name, operands);
      const cmd: Command = { name, ...common };
      const concurrency = positiveInt(values.concurrency, "--concurrency");
      if (concurrency !== undefined) cmd.concurrency = concurrency;
      const shutdownTimeout = seconds(values["shutdown-timeout"], "--shutdown-timeout");
      if (shutdownTimeout !== undefined) cmd.shutdownTimeout = shutdownTimeout;
      const metricsPort = positiveInt(values["metrics-port"], "--metrics-port");
      if (metricsPort !== undefined) {
        if (metricsPort > 65535) throw new UsageError("--metrics-port must be a TCP port (1-65535)");
        cmd.metricsPort = metricsPort;
      }
      return cmd;
    }
    case "stats":
      noOperands(name, operands);
      return { name, ...common };
    case "inspect": {
      if (operands.length !== 1) throw new UsageError("inspect takes exactly one task uuid");
      return { name, uuid: operands[0]!, ...common };
    }
    case "dead-letters-list":
      noOperands(name, operands);
      return { name, limit: positiveInt(values.limit, "--limit") ?? 100, ...common };
    case "dead-letters-redrive":
      if (operands.length === 0 && !values.all)
        throw new UsageError("dead-letters redrive needs ids, or --all to re-drive every dead letter");
      if (operands.length > 0 && values.all) throw new UsageError("give either ids or --all, not both");
      return operands.length > 0 ? { name, ids: operands, ...common } : { name, ...common };
  }
}

function unknownCommand(verb: string): UsageError {
  return new UsageError(
    `unknown command ${JSON.stringify(verb)}${didYouMean(verb, COMMANDS)} (expected one of: ${COMMANDS.join(", ")})`,
  );
}

/** `qtasks help <topic>` and `qtasks <topic> --help`: a command's own help; an unknown one is a usage error. */
function helpTopic(topic: string | undefined): string | undefined {
  if (topic === undefined) return undefined;
  if (topic === "dlq") return "dead-letters";
  if (!(COMMANDS as readonly string[]).includes(topic)) throw unknownCommand(topic);
  return topic;
}

/**
 * `--shutdown-timeout -1` as `--shutdown-timeout=-1`: parseArgs refuses a value that starts with a
 * dash as "ambiguous" (it might be a forgotten value followed by a flag). No flag looks like a
 * number, so a negative number is the value, and the flag's own check then says what is allowed.
 */
function joinNegativeValues(argv: readonly string[]): string[] {
  const longOf = new Map<string, string>();
  for (const [long, spec] of Object.entries(OPTIONS)) {
    if (spec.type !== "string") continue;
    longOf.set(`--${long}`, long);
    if ("short" in spec) longOf.set(`-${spec.short}`, long);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const long = longOf.get(arg);
    const next = argv[i + 1];
    if (long !== undefined && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`--${long}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** parseArgs messages are clear but long and span lines; the CLI prints one short line. */
function parseArgsMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  const unknown = /^Unknown option '([^']+)'/.exec(text);
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && unknown) {
    const flags = Object.keys(OPTIONS).map((o) => `--${o}`);
    return `Unknown option '${unknown[1]}'${unknown[1]!.startsWith("--") ? didYouMean(unknown[1]!, flags, false) : ""}`;
  }
  return text.replace(/\s*\n\s*/g, " ").replace(/\.$/, "");
}

function displayName(name: string): string {
  return name.startsWith("dead-letters-") ? `dead-letters ${name.slice("dead-letters-".length)}` : name;
}

function noOperands(name: string, operands: string[]): void {
  if (operands.length > 0)
    throw new UsageError(`${displayName(name)} takes no arguments (got ${JSON.stringify(operands[0])})`);
}

function positiveInt(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`${flag} must be a positive integer (got ${JSON.stringify(text)})`);
  return n;
}

function seconds(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.trim().replace(/s$/, ""));
  if (text.trim() === "" || !Number.isFinite(n) || n < 0)
    throw new UsageError(`${flag} must be a number of seconds >= 0 (got ${JSON.stringify(text)})`);
  return n;
}

export const USAGE = `Usage: qtasks <command> --app <file[#export]> [options]

Commands:
  run                          start a worker; SIGTERM/SIGINT stop it gracefully
  inspect <uuid>               print a task record
  stats                        queue depth, delayed, in flight, dead letters, statuses, live workers
  dead-letters list            list dead letters (--limit n, default 100)
  dead-letters redrive <id...> re-drive these dead letters (or --all)
  dashboard                    serve the web dashboard (qtasks dashboard --help for its options)

Options:
  -A, --app <file[#export]>    the module exporting the QueueTasks app (TypeScript is fine);
                               export: after # or :, default app, then default, then the only app
                               (default: $QTASKS_APP)
  -c, --concurrency <n>        run: tasks run at once (default: the app's config.maxTasksProcess)
  --shutdown-timeout <sec>     run: time running tasks get to finish on SIGTERM (default: the app's
                               config.shutdownTimeout, 25)
  --metrics-port <port>        run: serve Prometheus metrics at :<port>/metrics (the app needs the
                               @qtasks/opentelemetry plugin)
  --log-level <level>          debug, info, warn, error, silent (default: info for run, warn otherwise)
  --log-format <format>        json or pretty
  --connect-timeout <sec>      give up reaching the services after this long (default 10)
  --json                       machine-readable output
  -v, --verbose                print stack traces on errors
  -h, --help                   this text
  --version                    the CLI version

Exit codes: 0 ok, 1 error, 2 usage, 3 app file missing, 4 export missing, 5 service unreachable,
            6 not found`;
