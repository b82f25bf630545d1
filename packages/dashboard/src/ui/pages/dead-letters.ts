import { type DeadLetterView, getJson, type Meta, postJson } from "../client";
import { h, replace, route } from "../dom";
import { time } from "../format";

/** Dead letters with their reason and envelope; re-drive selected ones or all (if authorized). */
export function deadLettersPage(root: HTMLElement, meta: Meta): () => void {
  const body = h("div", null, h("p", { class: "muted" }, "Loading…"));
  const notice = h("p", { class: "notice", "data-testid": "notice", role: "status" });
  replace(root, h("h1", null, "Dead letters"), notice, body);
  let stopped = false;
  const load = async () => {
    try {
      const { items } = await getJson<{ items: DeadLetterView[] }>("dead-letters", { limit: 500 });
      if (!stopped) replace(body, ...render(items, meta, notice, load));
    } catch (error) {
      if (!stopped)
        replace(body, h("p", { class: "error" }, `Could not list dead letters: ${String(error)}`));
    }
  };
  void load();
  return () => {
    stopped = true;
  };
}

function render(items: DeadLetterView[], meta: Meta, notice: HTMLElement, reload: () => Promise<void>) {
  if (items.length === 0)
    return [h("p", { class: "muted", "data-testid": "no-dead-letters" }, "No dead letters.")];
  const checks = new Map<string, HTMLInputElement>();
  const redrive = async (body: { ids?: string[]; all?: true }) => {
    try {
      const { redriven } = await postJson<{ redriven: number }>("dead-letters/redrive", body);
      notice.textContent = `Re-drove ${redriven} dead letter${redriven === 1 ? "" : "s"}.`;
    } catch (error) {
      notice.textContent = `Re-drive failed: ${String(error)}`;
    }
    await reload();
  };
  const actions = meta.actions.redrive
    ? h(
        "div",
        { class: "actions" },
        h(
          "button",
          {
            "data-testid": "redrive-selected",
            onclick: () => {
              const ids = [...checks].filter(([, c]) => c.checked).map(([id]) => id);
              if (ids.length > 0) void redrive({ ids });
            },
          },
          "Re-drive selected",
        ),
        h(
          "button",
          { class: "secondary", "data-testid": "redrive-all", onclick: () => void redrive({ all: true }) },
          "Re-drive all",
        ),
      )
    : h("p", { class: "muted" }, "Read-only: re-driving needs an authorize hook that allows it.");
  const table = h(
    "table",
    { "data-testid": "dead-letter-table" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        meta.actions.redrive ? h("th", { class: "check" }, "") : null,
        ["task", "reason", "dead-lettered", "args or raw message"].map((c) => h("th", null, c)),
      ),
    ),
    h(
      "tbody",
      null,
      items.map((d) => {
        const check = h("input", { type: "checkbox", disabled: d.malformed, "aria-label": "select" });
        checks.set(d.id, check);
        return h(
          "tr",
          { "data-testid": "dead-letter-row", "data-id": d.id },
          meta.actions.redrive ? h("td", { class: "check" }, check) : null,
          h(
            "td",
            null,
            d.uuid
              ? h("a", { href: route(`/tasks/${d.uuid}`) }, d.taskName ?? d.uuid)
              : h("em", null, "malformed"),
          ),
          h("td", null, d.reason),
          h("td", null, time(d.deadLetteredAt)),
          h("td", { class: "mono preview" }, d.preview),
        );
      }),
    ),
  );
  return [actions, table];
}
