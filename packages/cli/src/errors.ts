import { maskUrl, QTasksError } from "@qtasks/core";

/** The exit codes of `qtasks`. Stable: scripts may switch on them. */
export const ExitCode = {
  /** The command did what it was asked (for `run`: the worker stopped gracefully). */
  ok: 0,
  /** Anything else went wrong (the app file threw while loading, a command failed, a second signal). */
  error: 1,
  /** Bad invocation: unknown command or flag, a missing or malformed argument. */
  usage: 2,
  /** The app file does not exist. */
  appFileMissing: 3,
  /** The app file has no such export, or the export is not a QueueTasks app. */
  exportMissing: 4,
  /** The broker, storage or GlobalConfig could not be reached. */
  unreachable: 5,
  /** `inspect`: no task with that uuid; `dead-letters redrive`: an id is not in the dead-letter list. */
  notFound: 6,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as one line and turns into an exit code. */
export class CliError extends QTasksError {
  constructor(
    code: string,
    message: string,
    readonly exitCode: ExitCodeValue,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super("QTASKS_CLI_USAGE", message, ExitCode.usage);
  }
}

export class AppFileMissingError extends CliError {
  constructor(readonly file: string) {
    super("QTASKS_CLI_APP_FILE_MISSING", `app file not found: ${file}`, ExitCode.appFileMissing);
  }
}

export class AppExportMissingError extends CliError {
  constructor(message: string) {
    super("QTASKS_CLI_APP_EXPORT_MISSING", message, ExitCode.exportMissing);
  }
}

export class AppLoadError extends CliError {
  constructor(file: string, cause: unknown) {
    super("QTASKS_CLI_APP_LOAD", `app file ${file} failed to load: ${errorMessage(cause)}`, ExitCode.error, {
      cause,
    });
  }
}

/** A TypeScript app file, and tsx (the optional peer that loads it) is not installed. */
export class TypeScriptLoaderMissingError extends CliError {
  constructor(readonly file: string) {
    super(
      "QTASKS_CLI_TSX_MISSING",
      `app file ${file} is TypeScript, and loading it needs tsx: npm install --save-dev tsx (or point --app at the compiled .js)`,
      ExitCode.error,
    );
  }
}

export class UnreachableError extends CliError {
  constructor(message: string, cause?: unknown) {
    super("QTASKS_CLI_UNREACHABLE", message, ExitCode.unreachable, { cause });
  }
}

export class NotFoundError extends CliError {
  constructor(message: string) {
    super("QTASKS_CLI_NOT_FOUND", message, ExitCode.notFound);
  }
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "QTASKS_CONNECTION",
]);

/** Whether an error (or anything in its cause chain) says a service could not be reached. */
export function isUnreachable(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 10; depth++) {
    if (e instanceof UnreachableError) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return true;
    if (e instanceof AggregateError && e.errors.some(isUnreachable)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s'"<>]+/gi;
const CLOSING: Record<string, string> = { ")": "(", "]": "[", "}": "{" };

/**
 * The URL a match really is: prose punctuation after it (`(redis://h:6379), storage`) is not part of
 * it, and neither is a closing bracket it did not open. Kept in, they made the host unparsable and
 * the whole URL was masked down to its scheme.
 */
function urlEnd(match: string): number {
  let end = match.length;
  for (;;) {
    const last = match[end - 1]!;
    if (".,;:!?".includes(last)) end--;
    else if (last in CLOSING) {
      const url = match.slice(0, end);
      const opens = url.split(CLOSING[last]!).length - 1;
      const closes = url.split(last).length - 1;
      if (closes > opens) end--;
      else return end;
    } else return end;
  }
}

/** An error's message with any URL in it masked (an adapter might have put one there). */
export function errorMessage(error: unknown): string {
  let text: string;
  if (error instanceof AggregateError && !error.message && error.errors.length > 0)
    text = error.errors.map((e) => errorMessage(e)).join("; ");
  else if (error instanceof Error) text = error.message || error.name;
  else text = String(error);
  return scrub(text);
}

/** Masks every URL in a text. */
export function scrub(text: string): string {
  return text.replace(URL_IN_TEXT, (match) => {
    const end = urlEnd(match);
    return maskUrl(match.slice(0, end)) + match.slice(end);
  });
}

/** The stack of an error and of its causes, URLs masked, for `--verbose`. */
export function errorDetails(error: unknown): string {
  const parts: string[] = [];
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 10; depth++) {
    parts.push(scrub(e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e)));
    e = e instanceof Error ? e.cause : undefined;
    if (e !== undefined && e !== null) parts.push("caused by:");
  }
  return parts.join("\n");
}
