import { InvalidOptionError, type QueueTasks } from "@qtasks/core";

/** What an action endpoint is about to do; `authorize` receives it with the request. */
export type DashboardAction = "cancel" | "retry" | "redrive";

export const DASHBOARD_ACTIONS: readonly DashboardAction[] = ["cancel", "retry", "redrive"];

/** Options of `createDashboard`. */
export interface DashboardOptions {
  /** The app whose storage, broker and GlobalConfig the dashboard reads. The dashboard connects it
   * (`app.connect()`) on the first request and never stops it: its owner does. */
  app: QueueTasks;
  /**
   * The path the dashboard is mounted at (`"/dash"`), as the handler sees it in `request.url`.
   * Default `""` (the root). Requests outside it answer 404.
   */
  basePath?: string;
  /**
   * Decides whether this request may run `action`. Absent: every action is refused (read-only).
   * It is called for POST action requests (after the same-origin or token check) and for
   * `GET api/meta`, so that the page shows only the buttons that would work.
   */
  authorize?: (request: Request, action: DashboardAction) => boolean | Promise<boolean>;
  /**
   * A shared secret that stands in for the same-origin check on action requests (for scripts):
   * sent as `x-qtasks-dashboard-token`. It does not replace `authorize`.
   */
  token?: string;
  /** Other origins (`https://ops.example.com`) whose pages may post actions. Default none. */
  allowedOrigins?: string[];
  /** Rows per page of the task list. Default 50, at most 500. */
  pageSize?: number;
  /** Seconds between keep-alive comments on an open event stream. Default 15. */
  keepAliveSeconds?: number;
  /** Records of each final status the throughput chart reads per refresh. Default 1000. */
  chartSample?: number;
}

export interface ResolvedOptions {
  app: QueueTasks;
  basePath: string;
  authorize?: DashboardOptions["authorize"];
  token?: string;
  allowedOrigins: readonly string[];
  pageSize: number;
  keepAliveMs: number;
  chartSample: number;
}

export function resolveOptions(options: DashboardOptions): ResolvedOptions {
  if (!options || typeof options !== "object" || !options.app)
    throw new InvalidOptionError("app", "createDashboard needs { app }");
  let basePath = options.basePath ?? "";
  if (typeof basePath !== "string" || (basePath !== "" && !basePath.startsWith("/")))
    throw new InvalidOptionError("basePath", 'must be "" or start with "/"');
  basePath = basePath.replace(/\/+$/, "");
  if (options.authorize !== undefined && typeof options.authorize !== "function")
    throw new InvalidOptionError("authorize", "must be a function (request, action) => boolean");
  if (options.token !== undefined && (typeof options.token !== "string" || options.token.length < 16))
    throw new InvalidOptionError("token", "must be a string of at least 16 characters");
  const allowedOrigins = (options.allowedOrigins ?? []).map((o) => {
    try {
      return new URL(o).origin;
    } catch {
      throw new InvalidOptionError("allowedOrigins", `${JSON.stringify(o)} is not an origin`);
    }
  });
  const pageSize = options.pageSize ?? 50;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 500)
    throw new InvalidOptionError("pageSize", "must be an integer from 1 to 500");
  const keepAlive = options.keepAliveSeconds ?? 15;
  if (!Number.isFinite(keepAlive) || keepAlive <= 0)
    throw new InvalidOptionError("keepAliveSeconds", "must be a positive number");
  const chartSample = options.chartSample ?? 1000;
  if (!Number.isInteger(chartSample) || chartSample < 0 || chartSample > 1000)
    throw new InvalidOptionError("chartSample", "must be an integer from 0 to 1000");
  const out: ResolvedOptions = {
    app: options.app,
    basePath,
    allowedOrigins,
    pageSize,
    keepAliveMs: keepAlive * 1000,
    chartSample,
  };
  if (options.authorize) out.authorize = options.authorize;
  if (options.token) out.token = options.token;
  return out;
}
