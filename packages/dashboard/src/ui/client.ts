/** Calls to the dashboard's API, relative to the page (the page is served at `<basePath>/`). */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function parse<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
  if (!res.ok) {
    const e = body?.error;
    throw new ApiError(res.status, e?.code ?? "http", e?.message ?? `HTTP ${res.status}`);
  }
  return body as T;
}

export async function getJson<T>(
  path: string,
  query?: Record<string, string | number | undefined>,
): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== "") q.set(k, String(v));
  const qs = q.toString();
  return parse<T>(
    await fetch(`api/${path}${qs ? `?${qs}` : ""}`, { headers: { accept: "application/json" } }),
  );
}

export async function postJson<T>(path: string, body: unknown = {}): Promise<T> {
  return parse<T>(
    await fetch(`api/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
    }),
  );
}

/** What the API answers (see src/views.ts and src/api.ts on the server). */
export type Status = "new" | "process" | "success" | "error" | "cancel" | "retry";

export interface Meta {
  app: string;
  components: Record<"broker" | "storage" | "globalConfig", { name: string; target?: string }>;
  statuses: Status[];
  taskNames: string[];
  pageSize: number;
  actions: { cancel: boolean; retry: boolean; redrive: boolean };
  schedules: boolean;
}

export interface TaskSummary {
  uuid: string;
  taskName: string;
  status: Status;
  priority: number;
  attempt: number;
  retries: number;
  tags: string[];
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  argsPreview: string;
}

export interface WorkerView {
  id: string;
  appName: string;
  host: string;
  pid: number;
  concurrency: number;
  running: number;
  startedAt: string;
  heartbeatAt: string;
  heartbeatAgeSeconds: number;
}

export interface Overview {
  statuses: Record<Status, number>;
  total: number;
  queue: { ready: Record<string, number>; delayed?: number; inFlight?: number; deadLetters?: number };
  workers: WorkerView[];
  throughput: {
    bucketSeconds: number;
    buckets: { t: number; success: number; error: number }[];
    success: number;
    error: number;
    failureRate: number | null;
    truncated: boolean;
  };
  byTaskName: { taskName: string; total: number; counts: Partial<Record<Status, number>> }[];
  byTaskNameSample: number;
}

export interface TaskRecordJson {
  uuid: string;
  taskName: string;
  priority: number;
  args: unknown[];
  status: Status;
  returning?: unknown;
  traceback?: string;
  errorName?: string;
  cancelReason?: string;
  deadLetterReason?: string;
  attempt: number;
  retries: number;
  retryOf?: string;
  retryUuid?: string;
  parentUuid?: string;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
  tags: string[];
  extra: Record<string, unknown>;
}

export interface TaskDetail {
  record: TaskRecordJson;
  outputs: unknown[];
  final: boolean;
  chain: TaskSummary[];
  parent: TaskSummary | null;
}

export interface DeadLetterView {
  id: string;
  reason: string;
  deadLetteredAt: string;
  taskName?: string;
  uuid?: string;
  preview: string;
  malformed: boolean;
}
