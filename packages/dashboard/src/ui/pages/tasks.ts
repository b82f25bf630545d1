import { getJson, type Meta, type TaskSummary } from "../client";
import { h, replace, route } from "../dom";
import { runtime, shortUuid, statusBadge, time } from "../format";

interface ListAnswer {
  items: TaskSummary[];
  page: number;
  pageSize: number;
  hasMore: boolean;
  serverMs: number;
}

/** Filter keys kept in the page's hash (`#/tasks?status=error&taskName=send`). */
const FILTERS = ["status", "taskName", "tag", "since", "until"] as const;

/** The task list: filters, newest first, paged through the storage's listing indexes. */
export function tasksPage(root: HTMLElement, meta: Meta, query: URLSearchParams): () => void {
  const current = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) ?? ""])) as Record<
    (typeof FILTERS)[number],
    string
  >;
  const page = Math.max(0, Number(query.get("page") ?? 0) || 0);

  const status = h(
    "select",
    { name: "status", "data-testid": "filter-status" },
    h("option", { value: "" }, "any status"),
    meta.statuses.map((s) => h("option", { value: s, selected: s === current.status }, s)),
  );
  const taskName = h("input", {
    name: "taskName",
    list: "task-names",
    placeholder: "task name",
    value: current.taskName,
    "data-testid": "filter-name",
  });
  const tag = h("input", {
    name: "tag",
    placeholder: "tag",
    value: current.tag,
    "data-testid": "filter-tag",
  });
  // Created from (inclusive) / until (exclusive), in local time; the hash keeps ISO instants.
  const since = h("input", {
    type: "datetime-local",
    name: "since",
    value: toLocalInput(current.since),
    "data-testid": "filter-since",
  });
  const until = h("input", {
    type: "datetime-local",
    name: "until",
    value: toLocalInput(current.until),
    "data-testid": "filter-until",
  });
  const names = h(
    "datalist",
    { id: "task-names" },
    meta.taskNames.map((n) => h("option", { value: n })),
  );
  const form = h(
    "form",
    {
      class: "filters",
      "data-testid": "filters",
      onsubmit: (e: Event) => {
        e.preventDefault();
        location.hash = route("/tasks", {
          status: status.value,
          taskName: taskName.value.trim(),
          tag: tag.value.trim(),
          since: fromLocalInput(since.value),
          until: fromLocalInput(until.value),
        });
      },
    },
    status,
    taskName,
    tag,
    h("label", { class: "muted" }, "created from ", since),
    h("label", { class: "muted" }, "before ", until),
    names,
    h("button", { type: "submit", "data-testid": "apply-filters" }, "Filter"),
    h("a", { href: route("/tasks"), class: "button secondary" }, "Clear"),
  );
  const results = h("div", { "data-testid": "task-results" }, h("p", { class: "muted" }, "Loading…"));
  replace(root, h("h1", null, "Tasks"), form, results);

  let stopped = false;
  void (async () => {
    try {
      const answer = await getJson<ListAnswer>("tasks", { ...current, page });
      if (!stopped) replace(results, ...render(answer, current));
    } catch (error) {
      if (!stopped) replace(results, h("p", { class: "error" }, `Could not list tasks: ${String(error)}`));
    }
  })();
  return () => {
    stopped = true;
  };
}

function render(a: ListAnswer, filters: Record<string, string>) {
  if (a.items.length === 0)
    return [
      h(
        "p",
        { class: "muted", "data-testid": "no-tasks" },
        a.page > 0 ? "No more tasks." : "No task matches.",
      ),
    ];
  const table = h(
    "table",
    { "data-testid": "task-table" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        ["task", "uuid", "status", "tags", "created", "ran", "attempt", "args"].map((c) => h("th", null, c)),
      ),
    ),
    h(
      "tbody",
      null,
      a.items.map((t) =>
        h(
          "tr",
          {
            "data-testid": "task-row",
            "data-uuid": t.uuid,
            "data-status": t.status,
            "data-task-name": t.taskName,
          },
          h("td", null, t.taskName),
          h(
            "td",
            { class: "mono" },
            h("a", { href: route(`/tasks/${t.uuid}`), title: t.uuid }, shortUuid(t.uuid)),
          ),
          h("td", null, statusBadge(t.status)),
          h("td", { class: "muted" }, t.tags.join(", ")),
          h("td", null, time(t.createdAt)),
          h("td", null, runtime(t)),
          h("td", null, String(t.attempt)),
          h("td", { class: "mono preview", "data-testid": "args-preview" }, t.argsPreview),
        ),
      ),
    ),
  );
  const pager = h(
    "nav",
    { class: "pager" },
    a.page > 0
      ? h(
          "a",
          { href: route("/tasks", { ...filters, page: a.page - 1 }), class: "button secondary" },
          "← Newer",
        )
      : null,
    h("span", { class: "muted" }, `Page ${a.page + 1} · served in ${a.serverMs} ms`),
    a.hasMore
      ? h(
          "a",
          {
            href: route("/tasks", { ...filters, page: a.page + 1 }),
            class: "button secondary",
            "data-testid": "next-page",
          },
          "Older →",
        )
      : null,
  );
  return [table, pager];
}

/** An ISO instant as the value of a datetime-local input (local time, to the minute). */
function toLocalInput(iso: string): string {
  const d = new Date(iso);
  if (!iso || Number.isNaN(+d)) return "";
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function fromLocalInput(value: string): string {
  const d = new Date(value);
  return value && !Number.isNaN(+d) ? d.toISOString() : "";
}
