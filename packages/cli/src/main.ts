import pkg from "../package.json";
import { type Command, parseCommand } from "./args";
import { dashboardCommand } from "./commands/dashboard";
import { deadLettersListCommand, deadLettersRedriveCommand } from "./commands/dead-letters";
import { inspectCommand } from "./commands/inspect";
import { runCommand } from "./commands/run";
import { statsCommand } from "./commands/stats";
import { CliError, ExitCode, errorDetails, errorMessage, isUnreachable } from "./errors";
import { helpText } from "./help";
import { type CliIo, defaultIo } from "./io";

export const VERSION: string = pkg.version;

/**
 * Runs the `qtasks` command with `argv` (without `node` and the script path) and resolves to the
 * exit code; it never exits the process itself (`bin` does). Errors are printed as one line
 * (`qtasks: ...`) on stderr, with stacks only under `--verbose`.
 */
export async function main(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  let command: Command | undefined;
  try {
    // The dashboard parses its own flags (--port, --host, ...).
    if (argv[0] === "dashboard") return await dashboardCommand(argv.slice(1), io);
    command = parseCommand(argv, io.env);
    return await dispatch(command, io);
  } catch (error) {
    const verbose = command && "verbose" in command ? command.verbose : argv.includes("--verbose");
    const code = exitCodeOf(error);
    io.stderr.write(`qtasks: ${errorMessage(error)}\n`);
    if (code === ExitCode.usage) io.stderr.write("Run 'qtasks --help' for usage.\n");
    if (verbose) io.stderr.write(`${errorDetails(error)}\n`);
    return code;
  }
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  if (isUnreachable(error)) return ExitCode.unreachable;
  return ExitCode.error;
}

async function dispatch(command: Command, io: CliIo): Promise<number> {
  switch (command.name) {
    case "help":
      // Bare `qtasks` is a usage error (exit 2, usage on stderr); `--help` is an answer.
      if (command.missing) {
        io.stderr.write(`${helpText()}\n`);
        return ExitCode.usage;
      }
      io.stdout.write(`${helpText(command.topic)}\n`);
      return 0;
    case "version":
      io.stdout.write(`${VERSION}\n`);
      return 0;
    case "run":
      return runCommand(command, io);
    case "inspect":
      return inspectCommand(command, io);
    case "stats":
      return statsCommand(command, io);
    case "dead-letters-list":
      return deadLettersListCommand(command, io);
    case "dead-letters-redrive":
      return deadLettersRedriveCommand(command, io);
  }
}
