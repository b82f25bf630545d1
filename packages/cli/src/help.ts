import { USAGE } from "./args";

const COMMON = `Common options:
  -A, --app <file[#export]>    the module exporting the QueueTasks app (default: $QTASKS_APP)
  --log-level <level>          debug, info, warn, error, silent
  --log-format <format>        json or pretty
  --connect-timeout <sec>      give up reaching the services after this long (default 10)
  --json                       machine-readable output
  -v, --verbose                print stack traces on errors`;

/** What `qtasks <command> --help` and `qtasks help <command>` print. */
const COMMAND_HELP: Record<string, string> = {
  run: `Usage: qtasks run --app <file[#export]> [options]

Connects the app's broker, storage and GlobalConfig, logs one start line, then runs a worker until
SIGTERM or SIGINT. On the signal it stops claiming, gives running tasks --shutdown-timeout seconds,
releases the rest to the broker and exits 0; a second signal exits at once with code 1.

Options:
  -c, --concurrency <n>        tasks run at once (default: the app's config.maxTasksProcess)
  --shutdown-timeout <sec>     time running tasks get to finish on SIGTERM (default: the app's
                               config.shutdownTimeout, 25)
  --metrics-port <port>        serve Prometheus metrics at :<port>/metrics while the worker runs
                               (the app needs the @qtasks/opentelemetry plugin)

${COMMON} (default level: info)`,
  inspect: `Usage: qtasks inspect <uuid> --app <file[#export]> [options]

Prints one task record: status, arguments, result or traceback, attempts, timestamps, links.
Exit 6 when there is no task with that uuid.

${COMMON} (default level: warn)`,
  stats: `Usage: qtasks stats --app <file[#export]> [options]

Queue depth by priority, delayed, in flight, dead letters, record counts by status, live workers.

${COMMON} (default level: warn)`,
  "dead-letters": `Usage: qtasks dead-letters list --app <file[#export]> [--limit n] [options]
       qtasks dead-letters redrive <id...> | --all --app <file[#export]> [options]

list: dead letters, oldest first (--limit, default 100).
redrive: the records go back to "new" and the envelopes are published again; ids that are not dead
letters (or are malformed) make the exit code 6. "dlq" is an alias of "dead-letters".

${COMMON} (default level: warn)`,
};

/** A command's help, or the general usage for no topic (or a command without its own page). */
export function helpText(topic?: string): string {
  return (topic !== undefined && COMMAND_HELP[topic]) || USAGE;
}
