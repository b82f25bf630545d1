import type { DeadLetter, TaskRecord, WorkerInfo } from "@qtasks/core";

/**
 * What the API sends for records, dead letters and workers. Values from tasks go out as JSON data;
 * the page renders every one of them as text.
 */
export interface TaskSummary {
  uuid: string;
  taskName: string;
  status: TaskRecord["status"];
  priority: number;
  attempt: number;
  retries: number;
  tags: string[];
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** The arguments as JSON, cut to `PREVIEW_CHARS`. */
  argsPreview: string;
}

const PREVIEW_CHARS = 160;

export function preview(value: unknown, max = PREVIEW_CHARS): string {
  let text: string;
  try {
    text = JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v)) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const iso = (d: Date | string | undefined): string | undefined =>
  d === undefined ? undefined : new Date(d).toISOString();

export function summary(r: TaskRecord): TaskSummary {
  const out: TaskSummary = {
    uuid: r.uuid,
    taskName: r.taskName,
    status: r.status,
    priority: r.priority,
    attempt: r.attempt,
    retries: r.retries,
    tags: r.tags ?? [],
    createdAt: iso(r.createdAt)!,
    argsPreview: preview(r.args),
  };
  if (r.startedAt) out.startedAt = iso(r.startedAt)!;
  if (r.finishedAt) out.finishedAt = iso(r.finishedAt)!;
  return out;
}

export interface DeadLetterView {
  id: string;
  reason: string;
  deadLetteredAt: string;
  taskName?: string;
  uuid?: string;
  /** The envelope's args as JSON (cut), or the raw text of a malformed message. */
  preview: string;
  envelope?: DeadLetter["envelope"];
  malformed: boolean;
}

export function deadLetterView(d: DeadLetter): DeadLetterView {
  const out: DeadLetterView = {
    id: d.id,
    reason: d.reason,
    deadLetteredAt: iso(d.deadLetteredAt)!,
    preview: d.envelope ? preview(d.envelope.args) : preview(d.raw ?? "", 400),
    malformed: !d.envelope,
  };
  if (d.envelope) {
    out.taskName = d.envelope.taskName;
    out.uuid = d.envelope.uuid;
    out.envelope = d.envelope;
  }
  return out;
}

export interface WorkerView extends Omit<WorkerInfo, "startedAt" | "heartbeatAt"> {
  startedAt: string;
  heartbeatAt: string;
  heartbeatAgeSeconds: number;
}

export function workerView(w: WorkerInfo, now = Date.now()): WorkerView {
  return {
    id: w.id,
    appName: w.appName,
    host: w.host,
    pid: w.pid,
    concurrency: w.concurrency,
    running: w.running,
    startedAt: iso(w.startedAt)!,
    heartbeatAt: iso(w.heartbeatAt)!,
    heartbeatAgeSeconds: Math.max(0, Math.round((now - +new Date(w.heartbeatAt)) / 100) / 10),
  };
}
