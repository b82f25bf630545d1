import { getJson, type Meta } from "./client";
import { h, replace, route } from "./dom";
import { deadLettersPage } from "./pages/dead-letters";
import { overviewPage } from "./pages/overview";
import { taskPage } from "./pages/task";
import { tasksPage } from "./pages/tasks";

/** A page renders into `root` and returns what stops it (timers, event streams). */
type Page = (root: HTMLElement, meta: Meta, query: URLSearchParams, param: string | undefined) => () => void;

interface Route {
  /** `#/<path>` prefix; a further segment is passed to the page as `param`. */
  path: string;
  title: string;
  page: Page;
  /** Shown in the navigation when true for this app (e.g. schedules once the app has them). */
  nav?: (meta: Meta) => boolean;
}

/**
 * The pages. A new page (schedules, once `app.listSchedules` exists on the server: `meta.schedules`)
 * is one entry here, one file under pages/, and its API route in src/api.ts.
 */
const ROUTES: Route[] = [
  { path: "", title: "Overview", page: (root, meta) => overviewPage(root, meta), nav: () => true },
  {
    path: "tasks",
    title: "Tasks",
    page: (root, meta, query, param) => (param ? taskPage(root, meta, param) : tasksPage(root, meta, query)),
    nav: () => true,
  },
  {
    path: "dead-letters",
    title: "Dead letters",
    page: (root, meta) => deadLettersPage(root, meta),
    nav: () => true,
  },
];

async function start(): Promise<void> {
  const app = document.getElementById("app")!;
  let meta: Meta;
  try {
    meta = await getJson<Meta>("meta");
  } catch (error) {
    replace(app, h("p", { class: "error" }, `The dashboard API did not answer: ${String(error)}`));
    return;
  }
  document.title = `${meta.app} · qtasks`;
  const nav = h("nav", { class: "nav" });
  const main = h("main", { id: "main" });
  const c = meta.components;
  const label = (x: { name: string; target?: string }) => (x.target ? `${x.name} (${x.target})` : x.name);
  replace(
    app,
    h(
      "header",
      { class: "top" },
      h("a", { class: "brand", href: route("/") }, "qtasks"),
      h("span", { class: "app-name", "data-testid": "app-name" }, meta.app),
      nav,
      h("span", { class: "muted components" }, `broker ${label(c.broker)} · storage ${label(c.storage)}`),
      h(
        "span",
        {
          class: `mode ${meta.actions.cancel || meta.actions.retry || meta.actions.redrive ? "rw" : "ro"}`,
          "data-testid": "mode",
        },
        meta.actions.cancel || meta.actions.retry || meta.actions.redrive ? "actions on" : "read-only",
      ),
    ),
    main,
  );

  let stop: (() => void) | undefined;
  const show = () => {
    stop?.();
    const hash = location.hash.replace(/^#\/?/, "");
    const [pathPart = "", queryPart = ""] = hash.split("?");
    const [head = "", ...rest] = pathPart.split("/").map(decodeURIComponent);
    const r = ROUTES.find((x) => x.path === head) ?? ROUTES[0]!;
    replace(
      nav,
      ROUTES.filter((x) => x.nav?.(meta)).map((x) =>
        h("a", { href: route(`/${x.path}`), class: x === r ? "active" : "" }, x.title),
      ),
    );
    stop = r.page(main, meta, new URLSearchParams(queryPart), rest[0] || undefined);
    window.scrollTo(0, 0);
  };
  window.addEventListener("hashchange", show);
  show();
}

void start();
