import { isUuid, type TaskRecord } from "@qtasks/core";
import type { Command } from "../args";
import { query } from "../connect";
import { NotFoundError, UsageError } from "../errors";
import { type CliIo, toJson } from "../io";
import { withConnectedApp } from "./shared";

type InspectCommand = Extract<Command, { name: "inspect" }>;

/** `qtasks inspect <uuid>`: one task record, as text or `--json`. */
export async function inspectCommand(cmd: InspectCommand, io: CliIo): Promise<number> {
  if (!isUuid(cmd.uuid))
    throw new UsageError(`not a task uuid: ${JSON.stringify(String(cmd.uuid).slice(0, 80))}`);
  const record = await withConnectedApp(cmd, io, (app) =>
    query(app, cmd.connectTimeout, () => app.get(cmd.uuid)),
  );
  if (!record) throw new NotFoundError(`no task ${cmd.uuid}`);
  io.stdout.write(cmd.json ? `${toJson(record)}\n` : formatRecord(record));
  return 0;
}

/** A task record as aligned `key  value` lines; the traceback last, indented. */
export function formatRecord(r: TaskRecord): string {
  const rows: [string, unknown][] = [
    ["uuid", r.uuid],
    ["task", r.taskName],
    ["status", r.status],
    ["priority", r.priority],
    ["args", json(r.args)],
    ["returning", r.status === "success" ? json(r.returning) : undefined],
    ["error", r.errorName],
    ["cancel reason", r.cancelReason],
    ["dead letter", r.deadLetterReason],
    ["attempt", r.attempt],
    ["retries", r.retries],
    ["retry of", r.retryOf],
    ["retried as", r.retryUuid],
    ["parent", r.parentUuid],
    ["tags", r.tags.length > 0 ? r.tags.join(", ") : undefined],
    ["extra", Object.keys(r.extra).length > 0 ? json(r.extra) : undefined],
    ["created", date(r.createdAt)],
    ["updated", date(r.updatedAt)],
    ["started", date(r.startedAt)],
    ["finished", date(r.finishedAt)],
    ["duration", r.startedAt && r.finishedAt ? `${(+r.finishedAt - +r.startedAt) / 1000}s` : undefined],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  let out = "";
  for (const [key, value] of rows)
    if (value !== undefined && value !== null) out += `${key.padEnd(width)}  ${String(value)}\n`;
  if (r.traceback) out += `traceback:\n${r.traceback.replace(/^/gm, "  ")}\n`;
  return out;
}

function json(v: unknown): string {
  try {
    return JSON.stringify(v) ?? "undefined";
  } catch {
    return "[unserializable]";
  }
}

function date(d: Date | string | undefined): string | undefined {
  if (d === undefined) return undefined;
  const t = d instanceof Date ? d : new Date(d);
  return Number.isNaN(+t) ? String(d) : t.toISOString();
}
