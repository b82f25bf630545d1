import { QueueTasks, silentLogger } from "@qtasks/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDashboard, type DashboardAction, TOKEN_HEADER } from "../src/index";
import { eventually, gate, readEvents, serve } from "./helpers";

const app = new QueueTasks({ name: "handler-test", logger: silentLogger });
const release = gate();
const emit = [gate(), gate()];
const add = app.task({ name: "add" }, (a: number, b: number) => a + b);
const fail = app.task({ name: "fail" }, () => {
  throw new Error("boom");
});
// Runs until released, or cancelled (ctx.sleep ends with the cancellation).
const hold = app.task({ name: "hold", echo: true }, async (self) => {
  await Promise.race([release.promise, self.ctx.sleep(60)]);
  return "released";
});
const stream = app.task({ name: "stream" }, async function* () {
  for (const g of emit) {
    await g.promise;
    yield "tick";
  }
});

const readOnly = createDashboard({ app });
const calls: DashboardAction[] = [];
const rw = createDashboard({
  app,
  basePath: "/dash",
  token: "a-token-of-enough-length",
  authorize: (_req, action) => {
    calls.push(action);
    return action !== "redrive";
  },
});
const BASE = "http://dash.test";
const get = (d = readOnly, path: string) => d.fetch(new Request(`${BASE}${d.basePath}${path}`));
const post = (d: typeof rw, path: string, headers: Record<string, string> = {}, body?: unknown) =>
  d.fetch(
    new Request(`${BASE}${d.basePath}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );

beforeAll(async () => {
  await app.start({ concurrency: 10 });
});
afterAll(async () => {
  release.resolve();
  for (const g of emit) g.resolve();
  await app.stop({ timeout: 1 });
});

describe("read endpoints", () => {
  it("serves the page with a strict content security policy and the assets", async () => {
    const page = await get(readOnly, "/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(await page.text()).toContain('<script src="assets/app.js"');
    const js = await get(readOnly, "/assets/app.js");
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    const again = await readOnly.fetch(
      new Request(`${BASE}/assets/app.js`, { headers: { "if-none-match": js.headers.get("etag")! } }),
    );
    expect(again.status).toBe(304);
  });

  it("redirects the base path to its trailing slash and answers 404 outside it", async () => {
    const r = await rw.fetch(new Request(`${BASE}/dash?x=1`));
    expect(r.status).toBe(308);
    expect(r.headers.get("location")).toBe("/dash/?x=1");
    expect((await rw.fetch(new Request(`${BASE}/other/`))).status).toBe(404);
    expect((await get(readOnly, "/api/nothing")).status).toBe(404);
  });

  it("overview counts every status and the tasks by name", async () => {
    const handles = await Promise.all([add.addTask(1, 2), add.addTask(3, 4), fail.addTask()]);
    await Promise.all(handles.map((h) => h.wait({ timeout: 5 }).catch(() => {})));
    const o = (await (await get(readOnly, "/api/overview")).json()) as {
      statuses: Record<string, number>;
      byTaskName: { taskName: string; counts: Record<string, number> }[];
      throughput: { success: number; error: number; buckets: unknown[] };
    };
    expect(o.statuses.success).toBeGreaterThanOrEqual(2);
    expect(o.statuses.error).toBeGreaterThanOrEqual(1);
    expect(o.byTaskName.find((r) => r.taskName === "add")?.counts.success).toBe(2);
    expect(o.throughput.success).toBeGreaterThanOrEqual(2);
    expect(o.throughput.buckets.length).toBeGreaterThanOrEqual(60);
  });

  it("lists tasks filtered by status and name, newest first, with pages", async () => {
    const r = await get(readOnly, "/api/tasks?status=success&taskName=add");
    expect(r.headers.get("server-timing")).toMatch(/^storage;dur=/);
    const body = (await r.json()) as { items: { taskName: string; status: string; argsPreview: string }[] };
    expect(body.items.map((t) => [t.taskName, t.status, t.argsPreview])).toEqual([
      ["add", "success", "[3,4]"],
      ["add", "success", "[1,2]"],
    ]);
    const d = createDashboard({ app, pageSize: 1 });
    const p1 = (await (await get(d, "/api/tasks?taskName=add&page=1")).json()) as {
      items: { argsPreview: string }[];
      hasMore: boolean;
    };
    expect(p1.items.map((t) => t.argsPreview)).toEqual(["[1,2]"]);
    expect(p1.hasMore).toBe(false);
    expect((await get(readOnly, "/api/tasks?status=bogus")).status).toBe(400);
    expect((await get(readOnly, "/api/tasks?page=-1")).status).toBe(400);
  });

  it("filters the list by tag and creation time", async () => {
    const before = new Date();
    const tagged = await app.with({ tags: ["vip"] }).addTask(add, 5, 6);
    await tagged.wait({ timeout: 5 });
    const after = new Date(Date.now() + 1);
    const items = async (q: string) =>
      ((await (await get(readOnly, `/api/tasks?${q}`)).json()) as { items: { uuid: string }[] }).items.map(
        (t) => t.uuid,
      );
    expect(await items("tag=vip")).toEqual([tagged.uuid]);
    expect(await items("tag=vip&status=error")).toEqual([]);
    expect(await items(`since=${before.toISOString()}&taskName=add`)).toEqual([tagged.uuid]);
    expect(await items(`until=${before.getTime()}&tag=vip`)).toEqual([]);
    expect(await items(`since=${before.getTime()}&until=${after.toISOString()}&tag=vip`)).toEqual([
      tagged.uuid,
    ]);
    expect((await get(readOnly, "/api/tasks?since=yesterday")).status).toBe(400);
  });

  it("shows one task with its error, and 404/400 for unknown or malformed uuids", async () => {
    const [failed] = await app.storage.list({ status: "error", taskName: "fail", limit: 1 });
    const r = (await (await get(readOnly, `/api/tasks/${failed!.uuid}`)).json()) as {
      record: { traceback: string; errorName: string };
      final: boolean;
    };
    expect(r.final).toBe(true);
    expect(r.record.traceback).toContain("boom");
    expect((await get(readOnly, "/api/tasks/00000000-0000-4000-8000-000000000000")).status).toBe(404);
    expect((await get(readOnly, "/api/tasks/not-a-uuid")).status).toBe(400);
  });

  it("streams a generator's outputs as they are emitted, then ends", async () => {
    const h = await stream.addTask();
    const res = await get(readOnly, `/api/tasks/${h.uuid}/stream`);
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    let step = 0;
    const events = await readEvents(res, (evs) => {
      // Let the task emit its next value only once the stream showed the previous one.
      const outputs = evs.filter((e) => e.event === "output").length;
      const running = evs.some(
        (e) => e.event === "record" && (e.data as { status: string }).status === "process",
      );
      if (running && outputs === step && step < emit.length) emit[step++]!.resolve();
      return evs.some((e) => e.event === "end");
    });
    const outputs = events.filter((e) => e.event === "output");
    expect(outputs.map((e) => [e.id, e.data])).toEqual([
      ["0", { index: 0, value: "tick" }],
      ["1", { index: 1, value: "tick" }],
    ]);
    expect(events.at(-1)).toEqual({ event: "end", data: { status: "success" } });
  });

  it("resumes a stream after Last-Event-ID", async () => {
    const h = await stream.addTask();
    await h.wait({ timeout: 5 });
    const res = await readOnly.fetch(
      new Request(`${BASE}/api/tasks/${h.uuid}/stream`, { headers: { "last-event-id": "0" } }),
    );
    const events = await readEvents(res, (evs) => evs.some((e) => e.event === "end"));
    expect(events.filter((e) => e.event === "output").map((e) => e.id)).toEqual(["1"]);
  });

  it("lists no credentials in meta", async () => {
    const meta = (await (await get(readOnly, "/api/meta")).json()) as {
      actions: Record<string, boolean>;
      taskNames: string[];
    };
    expect(meta.actions).toEqual({ cancel: false, retry: false, redrive: false });
    expect(meta.taskNames).toEqual(["add", "fail", "hold", "stream"]);
  });
});

describe("actions", () => {
  it("are refused without authorize, whatever the origin", async () => {
    const h = await hold.addTask();
    const variants: Record<string, string>[] = [{ origin: BASE }, { "sec-fetch-site": "same-origin" }, {}];
    for (const headers of variants) {
      const r = await readOnly.fetch(
        new Request(`${BASE}/api/tasks/${h.uuid}/cancel`, { method: "POST", headers }),
      );
      expect(r.status).toBe(403);
    }
    const redrive = await readOnly.fetch(
      new Request(`${BASE}/api/dead-letters/redrive`, {
        method: "POST",
        headers: { origin: BASE },
        body: "{}",
      }),
    );
    expect(redrive.status).toBe(403);
    expect((await app.get(h.uuid))?.status).not.toBe("cancel");
  });

  it("are POST only", async () => {
    const h = await hold.addTask();
    expect((await get(rw, `/api/tasks/${h.uuid}/cancel`)).status).toBe(405);
  });

  it("refuse a cross-origin request or one with no origin, and accept the token instead", async () => {
    const h = await hold.addTask();
    expect((await post(rw, `/api/tasks/${h.uuid}/cancel`, { origin: "https://evil.example" })).status).toBe(
      403,
    );
    expect((await post(rw, `/api/tasks/${h.uuid}/cancel`)).status).toBe(403);
    expect(
      (await post(rw, `/api/tasks/${h.uuid}/cancel`, { [TOKEN_HEADER]: "wrong-token-of-length" })).status,
    ).toBe(403);
    const ok = await post(rw, `/api/tasks/${h.uuid}/cancel`, { [TOKEN_HEADER]: "a-token-of-enough-length" });
    expect(ok.status).toBe(200);
  });

  it("cancel a running task from the same origin", async () => {
    const h = await hold.addTask();
    await eventually(async () => expect((await app.get(h.uuid))?.status).toBe("process"));
    const r = await post(rw, `/api/tasks/${h.uuid}/cancel`, { origin: BASE });
    expect(await r.json()).toEqual({ result: "requested" });
    expect(calls).toContain("cancel");
  });

  it("retry a failed task as a new task with the same name and args", async () => {
    const [failed] = await app.storage.list({ status: "error", taskName: "fail", limit: 1 });
    const r = await post(rw, `/api/tasks/${failed!.uuid}/retry`, { origin: BASE });
    expect(r.status).toBe(200);
    const { uuid } = (await r.json()) as { uuid: string };
    expect(uuid).not.toBe(failed!.uuid);
    const copy = await app.get(uuid);
    expect(copy).toMatchObject({ taskName: "fail", args: [] });
    const [done] = await app.storage.list({ status: "success", taskName: "add", limit: 1 });
    expect((await post(rw, `/api/tasks/${done!.uuid}/retry`, { origin: BASE })).status).toBe(409);
  });

  it("follow authorize's answer per action", async () => {
    const r = await post(rw, "/api/dead-letters/redrive", { origin: BASE }, { all: true });
    expect(r.status).toBe(403);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    const meta = (await (await get(rw, "/api/meta")).json()) as { actions: Record<string, boolean> };
    expect(meta.actions).toEqual({ cancel: true, retry: true, redrive: false });
  });

  it("deny when authorize throws", async () => {
    const d = createDashboard({
      app,
      authorize: () => {
        throw new Error("auth service down");
      },
    });
    const h = await hold.addTask();
    const r = await d.fetch(
      new Request(`${BASE}/api/tasks/${h.uuid}/cancel`, { method: "POST", headers: { origin: BASE } }),
    );
    expect(r.status).toBe(403);
  });
});

describe("options", () => {
  it("are checked", () => {
    expect(() => createDashboard({ app, basePath: "dash" })).toThrow(/basePath/);
    expect(() => createDashboard({ app, token: "short" })).toThrow(/token/);
    expect(() => createDashboard({ app, pageSize: 0 })).toThrow(/pageSize/);
    expect(() => createDashboard({ app, allowedOrigins: ["not a url"] })).toThrow(/allowedOrigins/);
  });
});

describe("toNodeHandler", () => {
  it("serves the API over node:http, with bodies and streams", async () => {
    const s = await serve(rw);
    try {
      const meta = await fetch(`${s.url}api/meta`);
      expect(meta.status).toBe(200);
      expect(meta.headers.get("x-content-type-options")).toBe("nosniff");
      const origin = new URL(s.url).origin;
      const r = await fetch(`${s.url}api/dead-letters/redrive`, {
        method: "POST",
        headers: { origin, "content-type": "application/json" },
        body: JSON.stringify({ all: true }),
      });
      expect(r.status).toBe(403); // authorize refuses redrive: the body made it through
      const h = await stream.addTask();
      const res = await fetch(`${s.url}api/tasks/${h.uuid}/stream`);
      const first = await readEvents(res, (evs) => evs.length > 0);
      expect(first[0]?.event).toBe("record");
      const big = await fetch(`${s.url}api/dead-letters/redrive`, {
        method: "POST",
        headers: { origin },
        body: "x".repeat(70 * 1024),
      });
      expect(big.status).toBe(413);
    } finally {
      await s.close();
    }
  });
});
