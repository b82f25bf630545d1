import {
  isFinalStatus,
  isUuid,
  type ListOptions,
  maskUrl,
  type QueueTasks,
  TASK_STATUSES,
  type TaskRecord,
  type TaskStatus,
} from "@qtasks/core";
import { HttpError, json, readJsonBody } from "./http";
import { DASHBOARD_ACTIONS, type ResolvedOptions } from "./options";
import { allowed, guardAction } from "./security";
import { type Throughput, throughput } from "./throughput";
import { deadLetterView, summary, type TaskSummary, workerView } from "./views";

/** Records the overview's "by task name" table reads (the newest ones; never a full scan). */
const BY_NAME_SAMPLE = 1000;
/** How long the overview reuses its chart and by-name sample (they read up to 3,000 records). */
const SAMPLE_TTL_MS = 10_000;
/** Steps followed each way along a retry chain on the task page. */
const CHAIN_STEPS = 20;

/** The read and action endpoints under `api/`. One instance per dashboard. */
export class Api {
  private sample: { at: number; value: Promise<{ chart: Throughput; byName: ByName[] }> } | undefined;

  constructor(private readonly options: ResolvedOptions) {}

  private get app(): QueueTasks {
    return this.options.app;
  }

  async meta(request: Request): Promise<Response> {
    const app = this.app;
    const actions: Record<string, boolean> = {};
    for (const a of DASHBOARD_ACTIONS) actions[a] = await allowed(request, a, this.options);
    return json({
      app: app.name,
      components: {
        broker: component(app.broker),
        storage: component(app.storage),
        globalConfig: component(app.globalConfig),
      },
      statuses: TASK_STATUSES,
      taskNames: app
        .listTasks()
        .map((t) => t.taskName)
        .sort(),
      pageSize: this.options.pageSize,
      actions,
      // The schedules page appears once the app can list schedules (see README, "Schedules").
      schedules: typeof (app as unknown as { listSchedules?: unknown }).listSchedules === "function",
    });
  }

  async overview(): Promise<Response> {
    const app = this.app;
    const now = Date.now();
    if (!this.sample || now - this.sample.at > SAMPLE_TTL_MS) {
      const value = this.readSample(now);
      this.sample = { at: now, value };
      value.catch(() => {
        this.sample = undefined;
      });
    }
    const [stats, sample] = await Promise.all([app.stats(), this.sample.value]);
    return json({
      statuses: stats.statuses,
      total: Object.values(stats.statuses).reduce((a, b) => a + b, 0),
      queue: stats.broker,
      workers: stats.workers.map((w) => workerView(w, now)).sort((a, b) => a.id.localeCompare(b.id)),
      throughput: sample.chart,
      byTaskName: sample.byName,
      byTaskNameSample: BY_NAME_SAMPLE,
    });
  }

  private async readSample(now: number) {
    const storage = this.app.storage;
    const [chart, newest] = await Promise.all([
      throughput(storage, this.options.chartSample, now),
      storage.list({ limit: BY_NAME_SAMPLE }),
    ]);
    return { chart, byName: byTaskName(newest) };
  }

  async tasks(url: URL): Promise<Response> {
    const q = url.searchParams;
    const pageSize = this.options.pageSize;
    const page = nonNegativeInt(q.get("page"), "page") ?? 0;
    const list: ListOptions = { limit: pageSize + 1, offset: page * pageSize };
    const status = q.get("status") || undefined;
    if (status !== undefined) {
      if (!(TASK_STATUSES as readonly string[]).includes(status))
        throw new HttpError(400, `unknown status ${JSON.stringify(status)}`);
      list.status = status as TaskStatus;
    }
    const taskName = q.get("taskName") || undefined;
    if (taskName !== undefined) list.taskName = taskName;
    const tag = q.get("tag") || undefined;
    if (tag !== undefined) list.tag = tag;
    const since = time(q.get("since"), "since");
    if (since) list.createdSince = since;
    const until = time(q.get("until"), "until");
    if (until) list.createdBefore = until;
    const started = performance.now();
    const records = await this.app.storage.list(list);
    const serverMs = performance.now() - started;
    const items: TaskSummary[] = records.slice(0, pageSize).map(summary);
    return json(
      { items, page, pageSize, hasMore: records.length > pageSize, serverMs: round(serverMs) },
      200,
      { "server-timing": `storage;dur=${round(serverMs)}` },
    );
  }

  async task(uuid: string): Promise<Response> {
    const storage = this.app.storage;
    const record = await storage.get(uuid);
    if (!record) throw new HttpError(404, "no such task", "not_found");
    const [outputs, chain, parent] = await Promise.all([
      storage.getOutputs(uuid),
      this.chain(record),
      record.parentUuid ? storage.get(record.parentUuid) : Promise.resolve(null),
    ]);
    return json({
      record,
      outputs,
      final: isFinalStatus(record.status),
      chain: chain.map(summary),
      parent: parent ? summary(parent) : null,
    });
  }

  /** The attempts of one task, oldest first: `retryOf` back, then `retryUuid` forward. */
  private async chain(record: TaskRecord): Promise<TaskRecord[]> {
    const storage = this.app.storage;
    const before: TaskRecord[] = [];
    let at: TaskRecord | null = record;
    for (let i = 0; i < CHAIN_STEPS && at?.retryOf; i++) {
      at = await storage.get(at.retryOf);
      if (at) before.unshift(at);
    }
    const after: TaskRecord[] = [];
    at = record;
    for (let i = 0; i < CHAIN_STEPS && at?.retryUuid; i++) {
      at = await storage.get(at.retryUuid);
      if (at) after.push(at);
    }
    return before.length + after.length === 0 ? [] : [...before, record, ...after];
  }

  async deadLetters(url: URL): Promise<Response> {
    const limit = Math.min(nonNegativeInt(url.searchParams.get("limit"), "limit") ?? 100, 1000);
    const letters = await this.app.listDeadLetters({ limit });
    return json({ items: letters.map(deadLetterView), limit });
  }

  async cancel(request: Request, uuid: string): Promise<Response> {
    await guardAction(request, "cancel", this.options);
    const result = await this.app.cancel(uuid, "cancelled from the dashboard");
    if (result === "not-found") throw new HttpError(404, "no such task", "not_found");
    return json({ result });
  }

  /**
   * Retry a failed (`error`) or cancelled task: enqueue a new task with the same name, arguments,
   * priority, tags and extra. The old record stays as it was, for the record.
   */
  async retry(request: Request, uuid: string): Promise<Response> {
    await guardAction(request, "retry", this.options);
    const record = await this.app.storage.get(uuid);
    if (!record) throw new HttpError(404, "no such task", "not_found");
    if (record.status !== "error" && record.status !== "cancel")
      throw new HttpError(
        409,
        `only error and cancel tasks can be retried (this one is ${record.status})`,
        "state",
      );
    // The task's own default tags are added again by the enqueue: pass only the others.
    const defaults = new Set(this.app.lookupTask(record.taskName)?.tags ?? []);
    const [handle] = await this.app.addTasks([
      {
        task: record.taskName,
        args: record.args as never,
        priority: record.priority,
        tags: (record.tags ?? []).filter((t) => !defaults.has(t)),
        extra: record.extra ?? {},
      },
    ]);
    return json({ uuid: handle!.uuid });
  }

  async redrive(request: Request): Promise<Response> {
    await guardAction(request, "redrive", this.options);
    const body = await readJsonBody(request);
    let ids: string[] | undefined;
    if (body.ids !== undefined) {
      if (!Array.isArray(body.ids) || !body.ids.every((i) => typeof i === "string"))
        throw new HttpError(400, "ids must be an array of strings");
      ids = body.ids as string[];
    } else if (body.all !== true) throw new HttpError(400, "give ids, or all: true");
    const redriven = await this.app.redriveDeadLetters(ids);
    return json({ redriven });
  }
}

export interface ByName {
  taskName: string;
  total: number;
  counts: Partial<Record<TaskStatus, number>>;
}

function byTaskName(records: TaskRecord[]): ByName[] {
  const map = new Map<string, ByName>();
  for (const r of records) {
    let row = map.get(r.taskName);
    if (!row) {
      row = { taskName: r.taskName, total: 0, counts: {} };
      map.set(r.taskName, row);
    }
    row.total++;
    row.counts[r.status] = (row.counts[r.status] ?? 0) + 1;
  }
  return [...map.values()].sort((a, b) => b.total - a.total || a.taskName.localeCompare(b.taskName));
}

function component(c: { name: string; target?: string }): { name: string; target?: string } {
  const out: { name: string; target?: string } = { name: String(c.name) };
  // Masked again: a third-party target might carry a password by mistake.
  if (typeof c.target === "string" && c.target)
    out.target = c.target.includes("://") ? maskUrl(c.target) : c.target;
  return out;
}

export function validUuid(s: string): string {
  if (!isUuid(s)) throw new HttpError(400, "not a task uuid", "bad_uuid");
  return s;
}

function nonNegativeInt(text: string | null, name: string): number | undefined {
  if (text === null || text === "") return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n))
    throw new HttpError(400, `${name} must be an integer >= 0`);
  return n;
}

/** A time filter: an ISO 8601 date-time or milliseconds since the epoch. */
function time(text: string | null, name: string): Date | undefined {
  if (text === null || text === "") return undefined;
  const d = /^\d+$/.test(text) ? new Date(Number(text)) : new Date(text);
  if (Number.isNaN(d.getTime())) throw new HttpError(400, `${name} must be an ISO date-time or milliseconds`);
  return d;
}

const round = (ms: number) => Math.round(ms * 100) / 100;
