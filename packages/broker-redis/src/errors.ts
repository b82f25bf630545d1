import { ConnectionError, QTasksError } from "@qtasks/core";

/**
 * Redis could not be reached (or did not answer) in time. A `ConnectionError` (code
 * `QTASKS_CONNECTION`), so code that handles core's connection errors handles this one too.
 * The message never holds credentials: URLs are masked.
 */
export class RedisUnavailableError extends ConnectionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("redis broker", message, options);
  }
}

/** Redis answered a broker command with an error (out of memory, wrong key type, ...). */
export class RedisBrokerCommandError extends QTasksError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("QTASKS_REDIS_COMMAND", message, options);
  }
}
