import { InvalidOptionError, MAX_PRIORITY, MIN_PRIORITY } from "@qtasks/core";

/** Default number of RabbitMQ priority levels above 0 (RabbitMQ recommends at most 10). */
export const DEFAULT_MAX_PRIORITY = 10;

/** Validates `maxPriority`: RabbitMQ accepts 1..255 levels above 0. */
export function validateMaxPriority(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 255)
    throw new InvalidOptionError("maxPriority", `must be an integer from 1 to 255, got ${String(value)}`);
  return value;
}

/**
 * Maps a core priority (-100..100, higher first) onto a RabbitMQ priority level (0..maxPriority).
 *
 * The mapping is monotonic (a higher core priority never gets a lower level) and exact in a window
 * centred on 0: with `maxPriority = 10`, core priorities -5..5 map to levels 0..10 one to one, and
 * everything below -5 shares level 0, everything above 5 shares level 10. Priorities sharing a level
 * are FIFO among themselves. With `maxPriority >= 200` every core priority has its own level.
 */
export function priorityLevel(priority: number, maxPriority: number): number {
  const p = Math.min(MAX_PRIORITY, Math.max(MIN_PRIORITY, Math.trunc(priority)));
  if (maxPriority >= MAX_PRIORITY - MIN_PRIORITY) return p - MIN_PRIORITY;
  const offset = Math.floor(maxPriority / 2);
  return Math.min(maxPriority, Math.max(0, p + offset));
}
