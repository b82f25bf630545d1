import type { Logger, LogLevel } from "./contracts/logger";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface ConsoleLoggerOptions {
  /** Lowest level printed. Default `QTASKS_LOG_LEVEL` or `"info"`. */
  level?: LogLevel | "silent";
  /** `"json"`: one JSON object per line; `"pretty"`: readable text. Default `QTASKS_LOG_FORMAT` or pretty. */
  format?: "json" | "pretty";
  /** Where lines go. Default `process.stderr`. */
  stream?: { write(line: string): unknown };
  bindings?: Record<string, unknown>;
}

function envLevel(): LogLevel | "silent" | undefined {
  const v = process.env.QTASKS_LOG_LEVEL;
  return v === "debug" || v === "info" || v === "warn" || v === "error" || v === "silent" ? v : undefined;
}

/** The default logger: levels, JSON or pretty output, bound fields. */
export class ConsoleLogger implements Logger {
  private readonly min: number;
  private readonly format: "json" | "pretty";
  private readonly stream: { write(line: string): unknown };
  private readonly bindings: Record<string, unknown>;

  constructor(options: ConsoleLoggerOptions = {}) {
    const level = options.level ?? envLevel() ?? "info";
    this.min = level === "silent" ? Number.POSITIVE_INFINITY : LEVELS[level];
    this.format = options.format ?? (process.env.QTASKS_LOG_FORMAT === "json" ? "json" : "pretty");
    this.stream = options.stream ?? process.stderr;
    this.bindings = options.bindings ?? {};
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.write("debug", message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.write("info", message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.write("warn", message, fields);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.write("error", message, fields);
  }

  child(bindings: Record<string, unknown>): Logger {
    const level = (Object.keys(LEVELS) as LogLevel[]).find((l) => LEVELS[l] === this.min) ?? "silent";
    return new ConsoleLogger({
      level,
      format: this.format,
      stream: this.stream,
      bindings: { ...this.bindings, ...bindings },
    });
  }

  private write(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    if (LEVELS[level] < this.min) return;
    const all = { ...this.bindings, ...fields };
    if (this.format === "json") {
      this.stream.write(`${safeJson({ time: new Date().toISOString(), level, msg: message, ...all })}\n`);
      return;
    }
    const extras = Object.entries(all)
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : safeJson(v)}`)
      .join(" ");
    this.stream.write(
      `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${extras ? ` ${extras}` : ""}\n`,
    );
  }
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) =>
      x instanceof Error ? { name: x.name, message: x.message } : typeof x === "bigint" ? String(x) : x,
    );
  } catch {
    return "[unserializable]";
  }
}

/**
 * A connection URL with its password (and a username-only secret) replaced by `***`, for logs and
 * errors. Anything that does not parse as a URL is reduced to its scheme.
 */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    else if (u.username && !u.password && /^(redis|rediss):$/.test(u.protocol)) u.username = "***";
    for (const key of [...u.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(key)) u.searchParams.set(key, "***");
    }
    return u.toString();
  } catch {
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0];
    return scheme ? `${scheme}//***` : "***";
  }
}
