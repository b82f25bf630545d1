import { type Logger, QueueTasks, type QueueTasksOptions, silentLogger } from "../src/index";

/** Lines a test logger captured. */
export interface CapturedLine {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps every line, to assert on what was logged. */
export function captureLogger(lines: CapturedLine[] = [], bindings: Record<string, unknown> = {}): Logger {
  const write = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push({ level, message, fields: { ...bindings, ...fields } });
  };
  return {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: (b) => captureLogger(lines, { ...bindings, ...b }),
  };
}

/** An app on the in-memory default with a silent logger; stopped by `using` tests in afterEach. */
export function makeApp(options: QueueTasksOptions = {}): QueueTasks {
  return new QueueTasks({ logger: silentLogger, ...options });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
