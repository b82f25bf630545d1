import { throughputChart } from "../chart";
import { getJson, type Meta, type Overview } from "../client";
import { h, replace, route } from "../dom";
import { ago, statusBadge } from "../format";

const REFRESH_MS = 5000;

/** Counts by status, the hour's throughput, workers, queue depths; refreshed every 5 s. */
export function overviewPage(root: HTMLElement, meta: Meta): () => void {
  const body = h("div", { class: "overview" }, h("p", { class: "muted" }, "Loading…"));
  replace(root, h("h1", null, "Overview"), body);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const load = async () => {
    try {
      const o = await getJson<Overview>("overview");
      if (!stopped) replace(body, ...render(o, meta));
    } catch (error) {
      if (!stopped)
        replace(body, h("p", { class: "error" }, `Could not load the overview: ${String(error)}`));
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  };
  void load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function render(o: Overview, meta: Meta) {
  const cards = h(
    "div",
    { class: "cards", "data-testid": "status-counts" },
    meta.statuses.map((s) =>
      h(
        "a",
        { class: `card status-${s}`, href: route("/tasks", { status: s }), "data-testid": `count-${s}` },
        h("span", { class: "card-label" }, s),
        h("span", { class: "card-value", "data-testid": "count" }, String(o.statuses[s] ?? 0)),
      ),
    ),
    h(
      "div",
      { class: "card" },
      h("span", { class: "card-label" }, "total"),
      h("span", { class: "card-value" }, String(o.total)),
    ),
  );
  const t = o.throughput;
  const rate = t.failureRate === null ? "no task finished" : `${(t.failureRate * 100).toFixed(1)}% failed`;
  const chart = h(
    "section",
    null,
    h("h2", null, "Last hour"),
    h(
      "p",
      { class: "muted", "data-testid": "throughput-summary" },
      `${t.success} succeeded, ${t.error} failed, ${rate}`,
      t.truncated ? ` (from the newest records only: more finished than the sample reads)` : "",
    ),
    throughputChart(t.buckets),
  );
  const readyTotal = Object.values(o.queue.ready).reduce((a, b) => a + b, 0);
  const na = (v: number | undefined) => (v === undefined ? "n/a" : String(v));
  const queue = h(
    "section",
    null,
    h("h2", null, "Queue"),
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "ready"),
      h("dd", { "data-testid": "queue-ready" }, String(readyTotal)),
      h("dt", null, "delayed"),
      h("dd", null, na(o.queue.delayed)),
      h("dt", null, "in flight"),
      h("dd", null, na(o.queue.inFlight)),
      h("dt", null, "dead letters"),
      h("dd", null, h("a", { href: route("/dead-letters") }, na(o.queue.deadLetters))),
    ),
  );
  const workers = h(
    "section",
    null,
    h("h2", null, `Workers (${o.workers.length} alive)`),
    o.workers.length === 0
      ? h("p", { class: "muted" }, "No worker has sent a heartbeat recently.")
      : h(
          "table",
          { "data-testid": "workers" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["worker", "host", "pid", "running", "heartbeat", "started"].map((c) => h("th", null, c)),
            ),
          ),
          h(
            "tbody",
            null,
            o.workers.map((w) =>
              h(
                "tr",
                { "data-testid": "worker-row" },
                h("td", { class: "mono" }, w.id),
                h("td", null, w.host),
                h("td", null, String(w.pid)),
                h("td", null, `${w.running} / ${w.concurrency}`),
                h("td", null, `${w.heartbeatAgeSeconds} s ago`),
                h("td", null, ago(w.startedAt)),
              ),
            ),
          ),
        ),
  );
  const names = h(
    "section",
    null,
    h("h2", null, "By task name"),
    h("p", { class: "muted" }, `In the ${o.byTaskNameSample.toLocaleString()} newest records.`),
    o.byTaskName.length === 0
      ? h("p", { class: "muted" }, "No tasks yet.")
      : h(
          "table",
          { "data-testid": "by-name" },
          h(
            "thead",
            null,
            h("tr", null, h("th", null, "task"), h("th", null, "total"), h("th", null, "statuses")),
          ),
          h(
            "tbody",
            null,
            o.byTaskName.map((row) =>
              h(
                "tr",
                null,
                h("td", null, h("a", { href: route("/tasks", { taskName: row.taskName }) }, row.taskName)),
                h("td", null, String(row.total)),
                h(
                  "td",
                  { class: "badges" },
                  Object.entries(row.counts).map(([s, n]) =>
                    h(
                      "a",
                      { href: route("/tasks", { taskName: row.taskName, status: s }) },
                      statusBadge(s),
                      ` ${n}`,
                    ),
                  ),
                ),
              ),
            ),
          ),
        ),
  );
  return [cards, h("div", { class: "grid2" }, chart, queue), workers, names];
}
