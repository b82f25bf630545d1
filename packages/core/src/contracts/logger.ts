/** Log levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * The logger every component writes to. `child` returns a logger that adds `bindings` to every line
 * (task name, uuid, component). Implementations must never print credentials; components mask them
 * before they log (see `maskUrl`).
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}
