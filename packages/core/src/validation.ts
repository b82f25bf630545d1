import { InvalidOptionError, InvalidTaskNameError, PayloadTooLargeError, SerializationError } from "./errors";

/** Longest task name accepted. */
export const MAX_TASK_NAME_LENGTH = 200;
/** Priorities are integers in this range; higher runs first. */
export const MIN_PRIORITY = -100;
export const MAX_PRIORITY = 100;

// Control characters, and the separators brokers use in keys, routing keys and hash tags.
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
const FORBIDDEN_NAME_CHARS = /[\u0000-\u001f\u007f-\u009f:{}*#>\s]/u;

/** Throws `InvalidTaskNameError` unless `name` is a valid task name. */
export function validateTaskName(name: unknown): asserts name is string {
  if (typeof name !== "string") throw new InvalidTaskNameError(name, "must be a string");
  if (name.length === 0) throw new InvalidTaskNameError(name, "must not be empty");
  if (name.length > MAX_TASK_NAME_LENGTH)
    throw new InvalidTaskNameError(name, `must be at most ${MAX_TASK_NAME_LENGTH} characters`);
  const bad = FORBIDDEN_NAME_CHARS.exec(name);
  if (bad)
    throw new InvalidTaskNameError(
      name,
      `must not contain control characters, whitespace or any of ": { } * # >" (found ${JSON.stringify(bad[0])})`,
    );
}

/** Whether `name` is a valid task name (no throw). */
export function isValidTaskName(name: unknown): name is string {
  try {
    validateTaskName(name);
    return true;
  } catch {
    return false;
  }
}

/** Validates an app name, used by adapters to namespace keys and queues. */
export function validateAppName(name: unknown): asserts name is string {
  if (typeof name !== "string" || !/^[A-Za-z0-9_.-]{1,100}$/.test(name))
    throw new InvalidOptionError("name", "an app name is 1-100 characters of A-Z a-z 0-9 _ . -");
}

export function validatePriority(priority: unknown, option = "priority"): number {
  if (typeof priority !== "number" || !Number.isInteger(priority))
    throw new InvalidOptionError(option, `must be an integer, got ${String(priority)}`);
  if (priority < MIN_PRIORITY || priority > MAX_PRIORITY)
    throw new InvalidOptionError(
      option,
      `must be between ${MIN_PRIORITY} and ${MAX_PRIORITY}, got ${priority}`,
    );
  return priority;
}

/** A duration in seconds: finite and >= 0 (`max` caps it when given). */
export function validateSeconds(value: unknown, option: string, max = 365 * 24 * 3600): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > max)
    throw new InvalidOptionError(
      option,
      `must be a number of seconds from 0 to ${max}, got ${String(value)}`,
    );
  return value;
}

/**
 * Throws `SerializationError` unless JSON carries `value` faithfully: plain objects, arrays, strings,
 * finite numbers, booleans and null. Functions, symbols, BigInt, cycles, undefined in arrays,
 * non-finite numbers and class instances (Date, Map, Buffer, ...) are refused.
 */
export function assertJsonSafe(value: unknown, what = "value"): void {
  const seen = new Set<object>();
  const walk = (v: unknown, path: string): void => {
    switch (typeof v) {
      case "string":
      case "boolean":
        return;
      case "number":
        if (!Number.isFinite(v))
          throw new SerializationError(`${path} is ${v}, which JSON cannot carry`, path);
        return;
      case "undefined":
        throw new SerializationError(`${path} is undefined, which JSON cannot carry`, path);
      case "function":
      case "symbol":
      case "bigint":
        throw new SerializationError(`${path} is a ${typeof v}, which JSON cannot carry`, path);
      default:
        break;
    }
    if (v === null) return;
    const obj = v as object;
    if (seen.has(obj)) throw new SerializationError(`${path} is a circular reference`, path);
    const proto = Object.getPrototypeOf(obj);
    if (Array.isArray(obj)) {
      seen.add(obj);
      for (let i = 0; i < obj.length; i++) walk(obj[i], `${path}[${i}]`);
      seen.delete(obj);
      return;
    }
    if (proto !== Object.prototype && proto !== null) {
      const kind = (proto?.constructor as { name?: string } | undefined)?.name ?? "object";
      throw new SerializationError(
        `${path} is a ${kind}, which JSON cannot carry faithfully (pass plain data${kind === "Date" ? ", e.g. date.toISOString()" : ""})`,
        path,
      );
    }
    seen.add(obj);
    for (const key of Object.keys(obj)) {
      const child = (obj as Record<string, unknown>)[key];
      if (child === undefined) continue; // an absent property and an undefined one read the same
      walk(child, `${path}.${key}`);
    }
    seen.delete(obj);
  };
  walk(value, what);
}

/** JSON-encodes `value` after `assertJsonSafe`, enforcing a byte limit. */
export function encodeJson(value: unknown, what: string, limitBytes: number): string {
  assertJsonSafe(value, what);
  const text = JSON.stringify(value);
  // Cheap upper bound first: UTF-8 is at most 3 bytes per UTF-16 unit.
  if (text.length * 3 > limitBytes) {
    const size = Buffer.byteLength(text, "utf8");
    if (size > limitBytes) throw new PayloadTooLargeError(size, limitBytes, what);
  }
  return text;
}
