import type { Logger, LogLevel } from "@qtasks/core";

/** One line written to a `CapturingLogger`. */
export interface LogEntry {
  level: LogLevel;
  message: string;
  /** The child bindings and the line's own fields, merged. */
  fields: Record<string, unknown>;
}

/**
 * A logger that keeps every line in memory (shared by all its children), so that a test can check
 * what a component logged, e.g. that a malformed message is logged once and not on every sweep.
 */
export class CapturingLogger implements Logger {
  constructor(
    readonly entries: LogEntry[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}

  debug(message: string, fields?: Record<string, unknown>): void {
    this.push("debug", message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.push("info", message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.push("warn", message, fields);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.push("error", message, fields);
  }

  child(bindings: Record<string, unknown>): Logger {
    return new CapturingLogger(this.entries, { ...this.bindings, ...bindings });
  }

  /** Lines at `warn` or `error`. */
  problems(): LogEntry[] {
    return this.entries.filter((e) => e.level === "warn" || e.level === "error");
  }

  private push(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level, message, fields: { ...this.bindings, ...fields } });
  }
}
