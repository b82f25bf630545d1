import {
  getJson,
  type Meta,
  postJson,
  type TaskDetail,
  type TaskRecordJson,
  type TaskSummary,
} from "../client";
import { h, pretty, replace, route } from "../dom";
import { runtime, shortUuid, statusBadge, time } from "../format";

const FINAL = new Set(["success", "error", "cancel", "retry"]);

/**
 * One task: its record, arguments, result or error, the attempt chain, the parent, and the live
 * outputs of a running generator task (server-sent events from `api/tasks/<uuid>/stream`).
 */
export function taskPage(root: HTMLElement, meta: Meta, uuid: string): () => void {
  const head = h("div", { class: "task-head" });
  const facts = h("div");
  const outputsList = h("ol", { class: "outputs", start: 0, "data-testid": "outputs" });
  const outputsNote = h("p", { class: "muted", "data-testid": "outputs-note" });
  const notice = h("p", { class: "notice", role: "status", "data-testid": "notice" });
  const chain = h("div");
  replace(
    root,
    h("p", null, h("a", { href: route("/tasks") }, "← Tasks")),
    head,
    notice,
    facts,
    h("section", null, h("h2", null, "Outputs"), outputsNote, outputsList),
    chain,
  );

  const seen = new Set<number>();
  let source: EventSource | undefined;
  let stopped = false;
  let record: TaskRecordJson | undefined;

  const addOutput = (index: number, value: unknown) => {
    if (seen.has(index)) return;
    seen.add(index);
    outputsList.appendChild(
      h("li", { "data-testid": "output", "data-index": index }, h("pre", null, pretty(value))),
    );
    outputsNote.textContent = `${seen.size} output${seen.size === 1 ? "" : "s"}`;
  };
  const show = (r: TaskRecordJson) => {
    record = r;
    replace(head, ...header(r, meta, notice, () => record));
    replace(facts, ...details(r));
    if (seen.size === 0)
      outputsNote.textContent = FINAL.has(r.status) ? "No outputs." : "Waiting for outputs…";
  };

  void (async () => {
    let detail: TaskDetail;
    try {
      detail = await getJson<TaskDetail>(`tasks/${encodeURIComponent(uuid)}`);
    } catch (error) {
      replace(
        head,
        h("h1", null, "Task"),
        h("p", { class: "error", "data-testid": "load-error" }, String(error)),
      );
      return;
    }
    if (stopped) return;
    show(detail.record);
    detail.outputs.forEach((v, i) => {
      addOutput(i, v);
    });
    replace(chain, ...chainSection(detail.chain, detail.parent, uuid));
    if (detail.final) return;
    // Live: the stream resumes after the outputs already shown (Last-Event-ID on reconnects).
    source = new EventSource(`api/tasks/${encodeURIComponent(uuid)}/stream`);
    source.addEventListener("record", (e) => show(JSON.parse((e as MessageEvent).data) as TaskRecordJson));
    source.addEventListener("output", (e) => {
      const { index, value } = JSON.parse((e as MessageEvent).data) as { index: number; value: unknown };
      addOutput(index, value);
    });
    const close = () => source?.close();
    source.addEventListener("end", close);
    source.addEventListener("missing", close);
    source.addEventListener("failure", close);
  })();

  return () => {
    stopped = true;
    source?.close();
  };
}

function header(
  r: TaskRecordJson,
  meta: Meta,
  notice: HTMLElement,
  latest: () => TaskRecordJson | undefined,
) {
  const buttons: HTMLElement[] = [];
  if (meta.actions.cancel && !FINAL.has(r.status))
    buttons.push(
      h(
        "button",
        {
          class: "danger",
          "data-testid": "cancel",
          onclick: async (e: Event) => {
            (e.currentTarget as HTMLButtonElement).disabled = true;
            try {
              const { result } = await postJson<{ result: string }>(
                `tasks/${encodeURIComponent(r.uuid)}/cancel`,
              );
              notice.textContent =
                result === "requested"
                  ? "Cancellation requested: the worker stops the task."
                  : `Cancel: ${result}.`;
            } catch (error) {
              notice.textContent = `Cancel failed: ${String(error)}`;
            }
          },
        },
        "Cancel",
      ),
    );
  if (meta.actions.retry && (r.status === "error" || r.status === "cancel"))
    buttons.push(
      h(
        "button",
        {
          "data-testid": "retry",
          onclick: async () => {
            try {
              const { uuid } = await postJson<{ uuid: string }>(
                `tasks/${encodeURIComponent(latest()?.uuid ?? r.uuid)}/retry`,
              );
              location.hash = route(`/tasks/${uuid}`);
            } catch (error) {
              notice.textContent = `Retry failed: ${String(error)}`;
            }
          },
        },
        "Retry as a new task",
      ),
    );
  return [
    h(
      "h1",
      null,
      h("span", { "data-testid": "task-name" }, r.taskName),
      " ",
      h("span", { "data-testid": "task-status" }, statusBadge(r.status)),
    ),
    h("p", { class: "mono muted", "data-testid": "task-uuid" }, r.uuid),
    buttons.length > 0 ? h("div", { class: "actions" }, buttons) : null,
  ];
}

function details(r: TaskRecordJson) {
  const row = (k: string, v: string | Node | null | undefined) =>
    v === undefined || v === null || v === "" ? null : [h("dt", null, k), h("dd", null, v)];
  const blocks: HTMLElement[] = [
    h(
      "dl",
      { class: "facts" },
      row("priority", String(r.priority)),
      row("attempt", String(r.attempt)),
      row("retries", String(r.retries)),
      row("tags", r.tags.join(", ")),
      row("created", time(r.createdAt)),
      row("started", time(r.startedAt)),
      row("finished", time(r.finishedAt)),
      row("ran", runtime(r)),
      row("cancel reason", r.cancelReason),
      row("dead-letter reason", r.deadLetterReason),
    ),
    h("section", null, h("h2", null, "Arguments"), h("pre", { "data-testid": "args" }, pretty(r.args))),
  ];
  if (r.status === "success")
    blocks.push(
      h("section", null, h("h2", null, "Result"), h("pre", { "data-testid": "result" }, pretty(r.returning))),
    );
  if (r.traceback)
    blocks.push(
      h(
        "section",
        null,
        h("h2", null, `Error${r.errorName ? `: ${r.errorName}` : ""}`),
        h("pre", { class: "traceback", "data-testid": "traceback" }, r.traceback),
      ),
    );
  if (Object.keys(r.extra ?? {}).length > 0)
    blocks.push(h("section", null, h("h2", null, "Extra"), h("pre", null, pretty(r.extra))));
  return blocks;
}

function chainSection(chain: TaskSummary[], parent: TaskSummary | null, uuid: string) {
  const out: HTMLElement[] = [];
  if (parent)
    out.push(
      h(
        "section",
        null,
        h("h2", null, "Parent"),
        h(
          "p",
          null,
          h(
            "a",
            { href: route(`/tasks/${parent.uuid}`), "data-testid": "parent" },
            `${parent.taskName} ${shortUuid(parent.uuid)}`,
          ),
          " ",
          statusBadge(parent.status),
        ),
      ),
    );
  if (chain.length > 0)
    out.push(
      h(
        "section",
        null,
        h("h2", null, "Attempts"),
        h(
          "ol",
          { class: "chain", "data-testid": "chain" },
          chain.map((t) =>
            h(
              "li",
              null,
              t.uuid === uuid
                ? h("strong", null, shortUuid(t.uuid))
                : h("a", { href: route(`/tasks/${t.uuid}`) }, shortUuid(t.uuid)),
              " ",
              statusBadge(t.status),
              ` retry ${t.retries}, ${time(t.createdAt)}`,
            ),
          ),
        ),
      ),
    );
  return out;
}
