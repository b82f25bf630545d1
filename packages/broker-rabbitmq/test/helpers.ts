import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import type { ComponentContext, Logger, TaskEnvelope } from "@qtasks/core";
import { type Channel, connect } from "amqplib";

const run = promisify(execFile);

export const AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/** Runs `fn` on a channel of its own connection (to look at or change the server's side), then closes both. */
export async function onServer<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
  const conn = await connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    const out = await fn(ch);
    await ch.close();
    return out;
  } finally {
    await conn.close();
  }
}

/** A queue-name prefix unique to one test file run. */
export function uniquePrefix(file: string): string {
  return `qtasks-test.${file}.${process.pid}.${randomUUID().slice(0, 8)}`;
}

export interface LogLine {
  level: string;
  message: string;
  fields?: Record<string, unknown>;
}

/** A logger that keeps every line, for assertions on what was logged. */
export function memoryLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const make = (bindings: Record<string, unknown>): Logger & { lines: LogLine[] } => ({
    lines,
    debug: (message, fields) => lines.push({ level: "debug", message, fields: { ...bindings, ...fields } }),
    info: (message, fields) => lines.push({ level: "info", message, fields: { ...bindings, ...fields } }),
    warn: (message, fields) => lines.push({ level: "warn", message, fields: { ...bindings, ...fields } }),
    error: (message, fields) => lines.push({ level: "error", message, fields: { ...bindings, ...fields } }),
    child: (more) => make({ ...bindings, ...more }),
  });
  return make({});
}

export function ctx(logger: Logger, appName = "test"): ComponentContext {
  return { appName, logger };
}

export function envelope(priority = 0, extra: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return {
    v: 1,
    uuid: randomUUID(),
    taskName: "test.task",
    args: [priority],
    priority,
    retries: 0,
    enqueuedAt: Date.now(),
    ...extra,
  };
}

/** Deletes every queue whose name starts with `prefix` (main, dead-letter and delay queues). */
export async function deleteQueues(prefix: string): Promise<void> {
  const { stdout } = await run("rabbitmqctl", ["list_queues", "-q", "--no-table-headers", "name"]);
  const names = stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((n) => n.startsWith(prefix));
  if (names.length === 0) return;
  await onServer(async (ch) => {
    for (const n of names) await ch.deleteQueue(n);
  });
}

/** Closes, from the server side, every connection whose connection_name contains `marker`. */
export async function closeConnectionsNamed(marker: string): Promise<number> {
  const { stdout } = await run("rabbitmqctl", [
    "list_connections",
    "-q",
    "--no-table-headers",
    "pid",
    "client_properties",
  ]);
  let n = 0;
  for (const line of stdout.split("\n")) {
    if (!line.includes(marker)) continue;
    const pid = line.split("\t")[0]?.trim();
    if (!pid) continue;
    await run("rabbitmqctl", ["close_connection", pid, "closed by a qtasks test"]);
    n++;
  }
  return n;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it is truthy (for conditions on a real server), failing after `ms`. */
export async function eventually<T>(
  fn: () => Promise<T> | T,
  ms = 10_000,
  what = "condition",
): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The negotiated heartbeat (seconds) of each connection whose connection_name contains `marker`. */
export async function heartbeatsOf(marker: string): Promise<number[]> {
  const { stdout } = await run("rabbitmqctl", [
    "list_connections",
    "-q",
    "--no-table-headers",
    "timeout",
    "client_properties",
  ]);
  return stdout
    .split("\n")
    .filter((l) => l.includes(marker))
    .map((l) => Number(l.split("\t")[0]));
}
