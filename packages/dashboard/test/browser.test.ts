import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { RedisBroker } from "@qtasks/broker-redis";
import { QueueTasks, silentLogger } from "@qtasks/core";
import { RedisGlobalConfig, RedisStorage } from "@qtasks/storage-redis";
import { Redis } from "ioredis";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDashboard, toNodeHandler } from "../src/index";
import { type Browser, launch, screenshot } from "./browser";
import { eventually, gate, REDIS_URL } from "./helpers";

// One app name per test file: the Redis broker, storage and GlobalConfig keys all carry it as their
// hash tag, so the file's keys are found and deleted by that name.
const appName = `dash-browser-${randomBytes(4).toString("hex")}`;
const app = new QueueTasks({
  name: appName,
  broker: new RedisBroker({ url: REDIS_URL }),
  storage: new RedisStorage({ url: REDIS_URL }),
  globalConfig: new RedisGlobalConfig({ url: REDIS_URL }),
  logger: silentLogger,
  config: { heartbeatInterval: 1 },
});

const add = app.task({ name: "add" }, (a: number, b: number) => a + b);
const fail = app.task({ name: "fail" }, (reason: string) => {
  throw new Error(reason);
});
const later = app.task({ name: "later" }, () => "never yet");
const emits = [gate(), gate(), gate()];
const stream = app.task({ name: "stream" }, async function* (label: string) {
  for (let i = 0; i < emits.length; i++) {
    await emits[i]!.promise;
    yield { label, step: i };
  }
});
const hold = app.task({ name: "hold", echo: true }, async (self) => {
  await self.ctx.sleep(120);
});
const show = app.task({ name: "show" }, (text: string) => text);

// A second app without a worker, so that its dead letters stay put until the page re-drives them.
const dlName = `${appName}-dl`;
const idle = new QueueTasks({
  name: dlName,
  broker: new RedisBroker({ url: REDIS_URL }),
  storage: new RedisStorage({ url: REDIS_URL }),
  globalConfig: new RedisGlobalConfig({ url: REDIS_URL }),
  logger: silentLogger,
});

// Read-only at /ro (no authorize); actions on at /rw; the idle app at /dl, actions on.
const ro = createDashboard({ app, basePath: "/ro" });
const rw = createDashboard({ app, basePath: "/rw", authorize: () => true });
const dl = createDashboard({ app: idle, basePath: "/dl", authorize: () => true });
const nodes: [string, ReturnType<typeof toNodeHandler>][] = [
  ["/rw", toNodeHandler(rw)],
  ["/dl", toNodeHandler(dl)],
  ["/ro", toNodeHandler(ro)],
];
let server: Server;
let origin: string;
let browser: Browser;
let page: Page;
const dialogs: string[] = [];

beforeAll(async () => {
  browser = await launch();
  await app.start({ concurrency: 8 });
  server = createServer((req, res) =>
    (nodes.find(([p]) => req.url?.startsWith(p)) ?? nodes[2]!)[1](req, res),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  page = await browser.page();
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
});

afterAll(async () => {
  for (const g of emits) g.resolve();
  await browser?.close();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await app.stop({ timeout: 1 });
  await idle.stop({ timeout: 0 });
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      // Both apps' names start with appName: their hash tags match `{appName*}`.
      const [next, keys] = await redis.scan(cursor, "MATCH", `*{${appName}*}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
});

const count = (status: string) => page.locator(`[data-testid=count-${status}] [data-testid=count]`);

describe("dashboard in Chromium on a Redis worker", () => {
  it("the overview shows the counts of a known mix of tasks", async () => {
    const done = await Promise.all([
      add.addTask(1, 2),
      add.addTask(2, 3),
      app.with({ tags: ["vip"] }).addTask(add, 3, 4),
    ]);
    const failed = await Promise.all([fail.addTask("disk full"), fail.addTask("timeout")]);
    await app.with({ delay: 3600 }).addTask(later);
    await Promise.all([...done, ...failed].map((h) => h.wait({ timeout: 20 }).catch(() => {})));
    await eventually(async () => expect((await app.stats()).workers.length).toBe(1));

    await page.goto(`${origin}/ro/`);
    await expect.poll(() => count("success").textContent()).toBe("3");
    expect(await count("error").textContent()).toBe("2");
    expect(await count("new").textContent()).toBe("1");
    expect(await count("process").textContent()).toBe("0");
    expect(await page.locator("[data-testid=mode]").textContent()).toBe("read-only");
    await expect.poll(() => page.locator("[data-testid=worker-row]").count()).toBe(1);
    expect(await page.locator("[data-testid=throughput-summary]").textContent()).toContain(
      "3 succeeded, 2 failed",
    );
    await screenshot(page, "dashboard-overview");
  });

  it("filtering the list by status and name shows exactly the matching tasks", async () => {
    for (const [status, taskName, n] of [
      ["success", "add", 3],
      ["error", "fail", 2],
      ["new", "later", 1],
    ] as const) {
      await page.goto(`${origin}/ro/#/tasks`);
      await page.locator("[data-testid=filter-status]").selectOption(status);
      await page.locator("[data-testid=filter-name]").fill(taskName);
      await page.locator("[data-testid=apply-filters]").click();
      const rows = page.locator("[data-testid=task-row]");
      await expect.poll(() => page.url()).toContain(`status=${status}`);
      await expect.poll(() => rows.count()).toBe(n);
      const shown = await rows.evaluateAll((els) =>
        els.map((e) => [
          e.getAttribute("data-uuid"),
          e.getAttribute("data-status"),
          e.getAttribute("data-task-name"),
        ]),
      );
      const expected = await app.storage.list({ status, taskName });
      expect(shown).toEqual(expected.map((r) => [r.uuid, status, taskName]));
      if (status === "error") await screenshot(page, "dashboard-tasks");
    }
    // By tag, from the form.
    await page.goto(`${origin}/ro/#/tasks`);
    await page.locator("[data-testid=filter-tag]").fill("vip");
    await page.locator("[data-testid=apply-filters]").click();
    await expect.poll(() => page.url()).toContain("tag=vip");
    await expect.poll(() => page.locator("[data-testid=task-row]").count()).toBe(1);
    expect(await page.locator("[data-testid=args-preview]").textContent()).toBe("[3,4]");
    // A status with no such task: an empty answer, not stale rows.
    await page.goto(`${origin}/ro/#/tasks?status=error&taskName=add`);
    await expect.poll(() => page.locator("[data-testid=no-tasks]").count()).toBe(1);
  });

  it("a running generator task's outputs appear on its page as they are emitted", async () => {
    const h = await stream.addTask("live");
    await page.goto(`${origin}/ro/#/tasks/${h.uuid}`);
    const outputs = page.locator("[data-testid=output]");
    const status = page.locator("[data-testid=task-status]");
    await expect.poll(() => status.textContent()).toBe("process");
    for (let i = 0; i < emits.length; i++) {
      emits[i]!.resolve();
      await expect.poll(() => outputs.count()).toBe(i + 1);
      expect(JSON.parse((await outputs.nth(i).textContent())!)).toEqual({ label: "live", step: i });
      if (i < emits.length - 1) {
        // Still running: the output came over the stream, not from a reload of a final record.
        expect((await app.get(h.uuid))?.status).toBe("process");
        if (i === 1) await screenshot(page, "dashboard-task-live");
      }
    }
    await expect.poll(() => status.textContent()).toBe("success");
  });

  it("cancelling a running task from the page turns its record to cancel", async () => {
    const h = await hold.addTask();
    await page.goto(`${origin}/rw/#/tasks/${h.uuid}`);
    await expect.poll(() => page.locator("[data-testid=task-status]").textContent()).toBe("process");
    await page.locator("[data-testid=cancel]").click();
    await eventually(async () => expect((await app.get(h.uuid))?.status).toBe("cancel"), 20_000);
    await expect.poll(() => page.locator("[data-testid=task-status]").textContent()).toBe("cancel");
    expect((await app.get(h.uuid))?.cancelReason).toBe("cancelled from the dashboard");
  });

  it("args holding markup are shown as text and run no script", async () => {
    const payloads = ["<script>alert(1)</script>", '<img src=x onerror="alert(2);window.__xss=1">'];
    const h = await show.addTask(payloads.join(" "));
    await h.wait({ timeout: 20 });
    await page.goto(`${origin}/ro/#/tasks?taskName=show`);
    const preview = page.locator("[data-testid=args-preview]").first();
    await expect.poll(() => preview.textContent()).toBe(JSON.stringify([payloads.join(" ")]));
    await page.goto(`${origin}/ro/#/tasks/${h.uuid}`);
    const args = page.locator("[data-testid=args]");
    await expect.poll(() => args.textContent()).toBe(JSON.stringify([payloads.join(" ")], null, 2));
    expect(JSON.parse((await page.locator("[data-testid=result]").textContent())!)).toBe(payloads.join(" "));
    expect(await page.locator("#app script, #app img").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(dialogs).toEqual([]);
  });

  it("without authorize the action endpoints refuse, even from the page's own origin", async () => {
    const h = await hold.addTask();
    await eventually(async () => expect((await app.get(h.uuid))?.status).toBe("process"));
    const [failed] = await app.storage.list({ status: "error", limit: 1 });
    await page.goto(`${origin}/ro/#/tasks/${h.uuid}`);
    await expect.poll(() => page.locator("[data-testid=task-status]").textContent()).toBe("process");
    expect(await page.locator("[data-testid=cancel]").count()).toBe(0);
    const answers = await page.evaluate(
      async ([running, failedUuid]) => {
        const post = async (path: string, body = "{}") =>
          (await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body }))
            .status;
        return [
          await post(`api/tasks/${running}/cancel`),
          await post(`api/tasks/${failedUuid}/retry`),
          await post("api/dead-letters/redrive", JSON.stringify({ all: true })),
        ];
      },
      [h.uuid, failed!.uuid],
    );
    expect(answers).toEqual([403, 403, 403]);
    expect((await app.get(h.uuid))?.status).toBe("process");
    expect(await app.storage.list({ taskName: "fail" })).toHaveLength(2);
    await app.cancel(h.uuid);
  });

  it("dead letters show their reason and are re-driven from the page", async () => {
    const handles = await Promise.all([idle.addTask("charge", "order-1"), idle.addTask("charge", "order-2")]);
    for (const h of handles) {
      const [delivery] = await idle.broker.claim(1, { waitSeconds: 5 });
      expect(delivery?.envelope.uuid).toBe(h.uuid);
      // What a worker does past the delivery limit: the record ends `error`, the envelope is parked.
      const begun = await idle.storage.begin(h.uuid, delivery!.envelope);
      if (begun.kind !== "started") throw new Error("not started");
      await idle.storage.finish(h.uuid, begun.attempt, {
        status: "error",
        traceback: "Error: card declined",
        deadLetterReason: "delivery-limit",
      });
      expect(await idle.broker.deadLetter(delivery!, "delivery-limit")).toBe(true);
    }
    await page.goto(`${origin}/dl/#/dead-letters`);
    const rows = page.locator("[data-testid=dead-letter-row]");
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.first().textContent()).toContain("delivery-limit");
    await screenshot(page, "dashboard-dead-letters");
    await rows.filter({ hasText: "order-1" }).locator("input[type=checkbox]").check();
    await page.locator("[data-testid=redrive-selected]").click();
    await expect
      .poll(() => page.locator("[data-testid=notice]").textContent())
      .toBe("Re-drove 1 dead letter.");
    await expect.poll(() => rows.count()).toBe(1);
    expect((await idle.get(handles[0]!.uuid))?.status).toBe("new");
    expect((await idle.get(handles[1]!.uuid))?.status).toBe("error");
    expect((await idle.listDeadLetters()).map((d) => d.id)).toEqual([handles[1]!.uuid]);
  });
});
