import { AsyncLocalStorage } from "node:async_hooks";
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import {
  type EnqueueCallHookInput,
  type Plugin,
  pinoLogger,
  type QueueTasks,
  type TaskEnvelope,
} from "../src/index";
import { type CapturedLine, captureLogger, makeApp } from "./helpers";

const apps: QueueTasks[] = [];
function app(options: ConstructorParameters<typeof QueueTasks>[0] = {}) {
  const a = makeApp(options);
  apps.push(a);
  return a;
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop({ timeout: 1 })));
});

describe("aroundRun and aroundEnqueue", () => {
  it("the handler, its logs and its self.addTask children run inside aroundRun's context", async () => {
    const store = new AsyncLocalStorage<string>();
    const enqueues: { input: EnqueueCallHookInput; seen: string | undefined; envelopes: TaskEnvelope[] }[] =
      [];
    const runs: string[] = [];
    const plugin: Plugin = {
      name: "scope",
      async aroundEnqueue(input, enqueue) {
        const envelopes = await enqueue();
        enqueues.push({ input, seen: store.getStore(), envelopes: [...envelopes] });
        return envelopes;
      },
      aroundRun({ ctx, envelope }, run) {
        runs.push(`${ctx.taskName}:${envelope.uuid === ctx.taskUuid}`);
        return store.run(`run:${ctx.taskName}`, run);
      },
    };
    const lines: CapturedLine[] = [];
    const a = app({ plugins: [plugin], logger: captureLogger(lines) });
    const seenInHandler: (string | undefined)[] = [];
    a.task({ name: "child" }, () => {
      seenInHandler.push(store.getStore());
      return "c";
    });
    const parent = a.task({ name: "parent", echo: true }, async (self) => {
      seenInHandler.push(store.getStore());
      self.ctx.getLogger().info("from the task", { n: 1 });
      const child = await self.addTask("child");
      return child.result({ timeout: 5 });
    });
    await a.start();
    const h = await parent.addTask();
    expect(await h.result({ timeout: 5 })).toBe("c");
    await a.addTasks([
      { task: "child", args: [] },
      { task: parent, args: [] },
    ]);

    expect(seenInHandler.slice(0, 2)).toEqual(["run:parent", "run:child"]);
    expect(runs.slice(0, 2)).toEqual(["parent:true", "child:true"]);
    // The first enqueue is outside any run; the child's is inside the parent's run.
    expect(enqueues[0]!.input).toEqual({ appName: "qtasks", taskNames: ["parent"] });
    expect(enqueues[0]!.seen).toBeUndefined();
    expect(enqueues[0]!.envelopes.map((e) => e.uuid)).toEqual([h.uuid]);
    expect(enqueues[1]!.input).toEqual({ appName: "qtasks", taskNames: ["child"], parentUuid: h.uuid });
    expect(enqueues[1]!.seen).toBe("run:parent");
    // A bulk call is one call with every task's name.
    expect(enqueues[2]!.input.taskNames).toEqual(["child", "parent"]);
    expect(enqueues[2]!.envelopes).toHaveLength(2);
    const line = lines.find((l) => l.message === "from the task")!;
    expect(line.fields).toMatchObject({ task: "parent", uuid: h.uuid, attempt: 1, n: 1 });
  });

  it("a hook that throws before or after calling next is reported and loses nothing", async () => {
    const before: Plugin = {
      name: "before",
      aroundEnqueue: () => {
        throw new Error("enqueue bug");
      },
      aroundRun: () => Promise.reject(new Error("run bug")),
    };
    const after: Plugin = {
      name: "after",
      async aroundRun(_input, run) {
        await run();
        throw new Error("late bug");
      },
    };
    const order: string[] = [];
    const outer: Plugin = {
      name: "outer",
      async aroundRun(_input, run) {
        order.push("outer:in");
        const outcome = await run();
        order.push(`outer:out:${outcome.status}`);
        return outcome;
      },
    };
    const a = app({ plugins: [outer, before, after] });
    const errors: string[] = [];
    a.events.on("plugin:error", (e) => errors.push(`${e.plugin}.${e.hook}:${(e.error as Error).message}`));
    a.task({ name: "ok" }, (x: number) => x * 2);
    await a.start();
    const h = await a.addTask("ok", 21);
    expect(await h.result({ timeout: 5 })).toBe(42);
    expect(order).toEqual(["outer:in", "outer:out:success"]);
    expect(errors).toEqual([
      "before.aroundEnqueue:enqueue bug",
      "before.aroundRun:run bug",
      "after.aroundRun:late bug",
    ]);
  });
});

describe("pino", () => {
  function pinoLines() {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        for (const text of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(text));
        done();
      },
    });
    return { lines, logger: pino({ level: "debug" }, stream) };
  }

  it("a pino logger passed as it is gets the fields, with task, uuid and attempt on task lines", async () => {
    const { lines, logger } = pinoLines();
    const a = app({ logger });
    const t = a.task({ name: "logs", echo: true }, (self, n: number) => {
      self.ctx.getLogger("mine").warn("working", { n, error: new Error("boom") });
    });
    await a.start();
    const h = await t.addTask(7);
    await h.result({ timeout: 5 });
    const line = lines.find((l) => l.msg === "working")!;
    expect(line).toMatchObject({
      level: 40,
      app: "qtasks",
      task: "logs",
      uuid: h.uuid,
      attempt: 1,
      logger: "mine",
      n: 7,
      error: { type: "Error", message: "boom" },
    });
    expect(lines.some((l) => l.msg === "worker started" && l.component === "worker")).toBe(true);
  });

  it("pinoLogger adapts explicitly; info without fields keeps the message", () => {
    const { lines, logger } = pinoLines();
    const log = pinoLogger(logger).child({ component: "x" });
    log.info("plain");
    log.debug("with", { k: "v" });
    expect(lines).toMatchObject([
      { level: 30, msg: "plain", component: "x" },
      { level: 20, msg: "with", component: "x", k: "v" },
    ]);
  });
});
