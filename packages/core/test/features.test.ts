import { afterEach, describe, expect, it } from "vitest";
import {
  AsyncTask,
  DefaultExecutor,
  DuplicateTaskError,
  type ExecutionOutcome,
  type ExecutionRequest,
  type Executor,
  type Middleware,
  type MiddlewareAfterCall,
  type MiddlewareBeforeCall,
  NoAppError,
  type Plugin,
  PluginError,
  type QueueTasks,
  sharedTask,
  TaskCancelError,
  TaskFailedError,
  TaskTimeoutError,
  UnknownComponentError,
} from "../src/index";
import { captureLogger, makeApp, sleep } from "./helpers";

const apps: QueueTasks[] = [];
function app(options: ConstructorParameters<typeof QueueTasks>[0] = {}) {
  const a = makeApp(options);
  apps.push(a);
  return a;
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop({ timeout: 1 })));
});

describe("sharedTask", () => {
  it("is seen by an app created after it, and by one created before it", async () => {
    const early = sharedTask({ name: "shared_early" }, (x: number) => x + 1);
    const a = app();
    const late = sharedTask({ name: "shared_late", awaiting: true }, async (x: number) => x * 10);
    expect(late).toBeInstanceOf(AsyncTask);
    expect(a.lookupTask("shared_early")).toBe(early);
    expect(a.lookupTask("shared_late")).toBe(late);
    await a.start();
    expect(await (await early.addTask(1)).result({ timeout: 5 })).toBe(2);
    expect(await (await late.addTask(2)).result({ timeout: 5 })).toBe(20);
  });

  it("fails clearly with no app, and with several apps unless one is named", async () => {
    const t = sharedTask({ name: "shared_noapp" }, () => 1);
    await expect(t.addTask()).rejects.toBeInstanceOf(NoAppError);
    const a = app({ name: "first" });
    const b = app({ name: "second" });
    const err = await t.addTask().catch((e) => e);
    expect(err).toBeInstanceOf(NoAppError);
    expect(err.message).toContain("first");
    await b.start();
    expect(await (await t.with({ app: b }).addTask()).result({ timeout: 5 })).toBe(1);
    expect(await a.get((await t.with({ app: b }).addTask()).uuid)).toBeNull();
  });

  it("refuses a shared name an app uses for its own task, and the other way round", () => {
    const a = app();
    a.task({ name: "owned_by_app" }, () => 1);
    expect(() => sharedTask({ name: "owned_by_app" }, () => 2)).toThrow(DuplicateTaskError);
    sharedTask({ name: "owned_by_shared" }, () => 1);
    expect(() => a.task({ name: "owned_by_shared" }, () => 2)).toThrow(/sharedTask/);
  });
});

describe("echo and self", () => {
  it("passes self first with the task's options, and 20 concurrent runs each see their own uuid", async () => {
    const a = app({ config: { maxTasksProcess: 20 } });
    const seen: { arg: number; uuid: string; self: unknown }[] = [];
    const t = a.task(
      {
        name: "echo_task",
        echo: true,
        priority: 2,
        maxTime: 30,
        retry: 1,
        tags: ["a"],
        description: "echo",
        extra: { team: "imaging" },
      },
      async (self, n: number) => {
        const before = self.ctx.taskUuid;
        await sleep(20 + (n % 5) * 5);
        expect(self.ctx.taskUuid).toBe(before);
        seen.push({ arg: n, uuid: self.ctx.taskUuid, self });
        return {
          taskName: self.taskName,
          priority: self.priority,
          echo: self.echo,
          maxTime: self.maxTime,
          retry: self.retry,
          extra: self.extra,
          uuid: self.ctx.taskUuid,
        };
      },
    );
    await a.start();
    const handles = await t.addTasks(Array.from({ length: 20 }, (_, i) => [i] as [number]));
    const results = await Promise.all(handles.map((h) => h.result({ timeout: 10 })));
    results.forEach((r, i) => {
      expect(r).toEqual({
        taskName: "echo_task",
        priority: 2,
        echo: true,
        maxTime: 30,
        retry: 1,
        extra: { team: "imaging" },
        uuid: handles[i]!.uuid,
      });
    });
    expect(new Set(seen.map((s) => s.uuid)).size).toBe(20);
    expect(new Set(seen.map((s) => s.self)).size).toBe(20);
  });

  it("self.addTask enqueues a child by name that names its parent, without deadlock when waiting", async () => {
    const a = app({ config: { maxTasksProcess: 1 } });
    a.task({ name: "child" }, (n: number) => n * 3);
    const parent = a.task({ name: "parent", echo: true }, async (self, n: number) => {
      const child = await self.addTask("child", n);
      // With one slot, waiting here would deadlock unless the slot is freed while waiting.
      const value = await child.result({ timeout: 5 });
      return { child: child.uuid, value };
    });
    await a.start();
    const h = await parent.addTask(7);
    const out = await h.result({ timeout: 10 });
    expect(out.value).toBe(21);
    const childRecord = await a.get(out.child);
    expect(childRecord?.parentUuid).toBe(h.uuid);
    expect(childRecord?.taskName).toBe("child");
  });
});

describe("ctx", () => {
  it("exposes uuid, logger, config, metadata (memoised), other tasks and components", async () => {
    const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
    const a = app({ logger: captureLogger(lines), config: { custom: "yes" } });
    const other = a.task({ name: "other" }, () => "o");
    const t = a.task({ name: "ctx_task", echo: true }, async (self, otherUuid: string) => {
      const { ctx } = self;
      ctx.getLogger("mine").info("hello from the task");
      const meta1 = await ctx.getMetadata();
      const meta2 = await ctx.getMetadata();
      const fresh = await ctx.getMetadata(false);
      const otherRecord = await ctx.getTask(otherUuid);
      const missing = await ctx.getTask("00000000-0000-4000-8000-000000000000");
      let unknown: unknown;
      try {
        ctx.getComponent("nope" as "broker");
      } catch (e) {
        unknown = e;
      }
      return {
        uuid: ctx.taskUuid,
        custom: ctx.getConfig().custom,
        maxTasksProcess: ctx.getConfig().maxTasksProcess,
        memoised: meta1 === meta2,
        fresh: fresh !== meta1,
        metaStatus: meta1.status,
        metaArgs: meta1.args,
        otherStatus: otherRecord?.status,
        missing,
        broker: ctx.getComponent("broker") === a.broker,
        storage: ctx.getComponent("storage") === a.storage,
        worker: ctx.getComponent("worker").concurrency,
        plugins: ctx.getComponent("plugins").length,
        unknownIsTyped: unknown instanceof UnknownComponentError,
        protoIsUnknown: (() => {
          try {
            ctx.getComponent("constructor" as "broker");
            return false;
          } catch (e) {
            return e instanceof UnknownComponentError;
          }
        })(),
      };
    });
    await a.start();
    const o = await other.addTask();
    await o.wait({ timeout: 5 });
    const h = await t.addTask(o.uuid);
    const r = await h.result({ timeout: 5 });
    expect(r).toEqual({
      uuid: h.uuid,
      custom: "yes",
      maxTasksProcess: 10,
      memoised: true,
      fresh: true,
      metaStatus: "process",
      metaArgs: [o.uuid],
      otherStatus: "success",
      missing: null,
      broker: true,
      storage: true,
      worker: 10,
      plugins: 0,
      unknownIsTyped: true,
      protoIsUnknown: true,
    });
    const line = lines.find((l) => l.message === "hello from the task");
    expect(line?.fields).toMatchObject({ task: "ctx_task", uuid: h.uuid, logger: "mine" });
  });

  it("ctx.cancel ends the task with status cancel and the reason", async () => {
    const a = app();
    const t = a.task({ name: "cancels", echo: true }, (self) => {
      self.ctx.cancel("not needed any more");
    });
    await a.start();
    const h = await t.addTask();
    const rec = await h.wait({ timeout: 5 });
    expect(rec.status).toBe("cancel");
    expect(rec.cancelReason).toBe("not needed any more");
    await expect(h.result()).rejects.toBeInstanceOf(TaskFailedError);
  });

  it("cancelling from a client interrupts ctx.sleep with TaskCancelError", async () => {
    const a = app();
    let caught: unknown;
    const t = a.task({ name: "sleeper", echo: true }, async (self) => {
      try {
        await self.ctx.sleep(30);
      } catch (e) {
        caught = e;
        throw e;
      }
      return "woke";
    });
    await a.start();
    const h = await t.addTask();
    while ((await h.get())?.status !== "process") await sleep(10);
    expect(await h.cancel("user pressed stop")).toBe("requested");
    const rec = await h.wait({ timeout: 5 });
    expect(rec.status).toBe("cancel");
    expect(rec.cancelReason).toBe("user pressed stop");
    expect(caught).toBeInstanceOf(TaskCancelError);
  });

  it("cancelling a task that has not started cancels it at once; it never runs", async () => {
    const a = app();
    let ran = false;
    const t = a.task({ name: "never_runs" }, () => {
      ran = true;
    });
    const h = await t.addTask();
    expect(await a.cancel(h.uuid, "changed my mind")).toBe("cancelled");
    await a.start();
    const rec = await h.wait({ timeout: 5 });
    expect(rec.status).toBe("cancel");
    await sleep(50);
    expect(ran).toBe(false);
  });

  it("pluginError is handled by a plugin hook, else ends the task in error", async () => {
    const handler: Plugin = {
      name: "fallback",
      onPluginError: (error) =>
        error.data === "recover" ? { status: "success", returning: "recovered by plugin" } : undefined,
    };
    const a = app({ plugins: [handler] });
    const t = a.task({ name: "plugin_err", echo: true }, (self, mode: string) => {
      self.ctx.pluginError("needs help", mode);
    });
    await a.start();
    expect(await (await t.addTask("recover")).result({ timeout: 5 })).toBe("recovered by plugin");
    const rec = await (await t.addTask("other")).wait({ timeout: 5 });
    expect(rec.status).toBe("error");
    expect(rec.errorName).toBe("PluginError");
    expect(new PluginError("x").code).toBe("QTASKS_PLUGIN_ERROR");
  });
});

describe("retry", () => {
  class Transient extends Error {}
  class VeryTransient extends Transient {}

  it("retries matching errors (subclasses count) as linked records, and waiting on the first uuid yields the outcome", async () => {
    const a = app();
    let runs = 0;
    const t = a.task(
      { name: "flaky", retry: 3, retryOnExc: [Transient], retryBackoff: { type: "fixed", delay: 0.05 } },
      async (payload: { n: number }) => {
        runs++;
        if (runs < 3) throw new VeryTransient(`run ${runs} failed`);
        return payload.n * 2;
      },
    );
    await a.start();
    const h = await t.addTask({ n: 21 });
    expect(await h.result({ timeout: 10 })).toBe(42);
    expect(runs).toBe(3);
    // Walk the chain: retry -> retry -> success, original args on every record.
    const chain = [];
    let rec = await a.get(h.uuid);
    while (rec) {
      chain.push(rec);
      rec = rec.retryUuid ? await a.get(rec.retryUuid) : null;
    }
    expect(chain.map((r) => r.status)).toEqual(["retry", "retry", "success"]);
    expect(chain.map((r) => r.retries)).toEqual([0, 1, 2]);
    expect(chain.every((r) => JSON.stringify(r.args) === JSON.stringify([{ n: 21 }]))).toBe(true);
    expect(chain[1]!.retryOf).toBe(chain[0]!.uuid);
    expect(chain[0]!.traceback).toContain("run 1 failed");
  });

  it("stops after n retries (n + 1 runs) and ends error", async () => {
    const a = app();
    let runs = 0;
    const t = a.task({ name: "always_fails", retry: 2 }, () => {
      runs++;
      throw new Error("nope");
    });
    await a.start();
    const rec = await (await t.addTask()).wait({ timeout: 10 });
    expect(rec.status).toBe("error");
    expect(rec.retries).toBe(2);
    expect(runs).toBe(3);
  });

  it("an error that does not match ends the task at once", async () => {
    const a = app();
    let runs = 0;
    const t = a.task({ name: "wrong_error", retry: 5, retryOnExc: [Transient] }, () => {
      runs++;
      throw new TypeError("not transient");
    });
    await a.start();
    const rec = await (await t.addTask()).wait({ timeout: 10 });
    expect(rec.status).toBe("error");
    expect(rec.errorName).toBe("TypeError");
    expect(runs).toBe(1);
  });
});

describe("maxTime", () => {
  it("aborts the handler's signal and ends the run with TaskTimeoutError", async () => {
    const a = app();
    let aborted: unknown;
    const t = a.task({ name: "too_slow", echo: true, maxTime: 0.2 }, async (self) => {
      self.ctx.signal.addEventListener("abort", () => {
        aborted = self.ctx.signal.reason;
      });
      await new Promise((r) => setTimeout(r, 5000));
      return "finished";
    });
    await a.start();
    const rec = await (await t.addTask()).wait({ timeout: 5 });
    expect(rec.status).toBe("error");
    expect(rec.errorName).toBe("TaskTimeoutError");
    expect(aborted).toBeInstanceOf(TaskTimeoutError);
  });
});

describe("executor", () => {
  it("a custom executor class replaces execution for that task", async () => {
    class UpperExecutor implements Executor {
      constructor(private readonly request: ExecutionRequest) {}
      async execute(): Promise<ExecutionOutcome> {
        const out = await this.request.task.handler(...this.request.args);
        return { status: "success", returning: String(out).toUpperCase() };
      }
    }
    class TimingExecutor extends DefaultExecutor {
      protected override async decodeResult(result: unknown): Promise<unknown> {
        return { wrapped: await super.decodeResult(result) };
      }
    }
    const a = app();
    const upper = a.task({ name: "upper", executor: UpperExecutor }, (s: string) => `${s}!`);
    const wrapped = a.task({ name: "wrapped", executor: TimingExecutor }, () => 5);
    const plain = a.task({ name: "plain" }, () => 5);
    await a.start();
    expect(await (await upper.addTask("hey")).result({ timeout: 5 })).toBe("HEY!");
    expect(await (await wrapped.addTask()).result({ timeout: 5 })).toEqual({ wrapped: 5 });
    expect(await (await plain.addTask()).result({ timeout: 5 })).toBe(5);
  });

  it("overridden steps run even when there is no middleware and no decode", async () => {
    const steps: string[] = [];
    class StepsExecutor extends DefaultExecutor {
      protected override async runBefore(call: MiddlewareBeforeCall) {
        steps.push("before");
        call.args = [20];
        return super.runBefore(call);
      }
      protected override async runAfter(call: MiddlewareAfterCall) {
        steps.push("after");
        call.result = (call.result as number) + 1;
      }
    }
    const a = app();
    const t = a.task({ name: "steps", executor: StepsExecutor }, (n: number) => n * 2);
    await a.start();
    expect(await (await t.addTask(1)).result({ timeout: 5 })).toBe(41);
    expect(steps).toEqual(["before", "after"]);
  });
});

describe("middleware", () => {
  it("runs before and after in order, can replace args and result, never accumulates", async () => {
    const log: string[] = [];
    const appWide: Middleware = {
      name: "app",
      before: (c) => {
        log.push(`app-before:${c.args.join(",")}`);
      },
      after: (c) => {
        log.push("app-after");
        c.result = { ...(c.result as object), app: true };
      },
    };
    const a = app();
    a.addMiddleware(appWide);
    const t = a.task(
      {
        name: "mw",
        middlewaresBefore: [
          (c: MiddlewareBeforeCall) => {
            log.push("b1");
            c.args = [(c.args[0] as number) + 1];
          },
          { before: () => void log.push("b2") },
        ],
        middlewaresAfter: [
          (c) => {
            log.push("a1");
            c.result = { value: c.result };
          },
        ],
      },
      (n: number) => {
        log.push(`handler:${n}`);
        return n;
      },
    );
    await a.start();
    for (let i = 0; i < 3; i++) {
      log.length = 0;
      const r = await (await t.addTask(i)).result({ timeout: 5 });
      expect(r).toEqual({ value: i + 1, app: true });
      expect(log).toEqual([`app-before:${i}`, "b1", "b2", `handler:${i + 1}`, "a1", "app-after"]);
    }
  });

  it("a before-middleware can stop the run with a result", async () => {
    const a = app();
    let ran = false;
    const t = a.task(
      { name: "stopped", middlewaresBefore: [() => ({ stop: true, result: "cached" })] },
      () => {
        ran = true;
        return "computed";
      },
    );
    await a.start();
    expect(await (await t.addTask()).result({ timeout: 5 })).toBe("cached");
    expect(ran).toBe(false);
  });
});

describe("generators", () => {
  it("sends each handler output back into the generator and streams it while the task runs", async () => {
    const a = app();
    let gate: () => void = () => {};
    const opened = new Promise<void>((r) => {
      gate = r;
    });
    const t = a.task(
      { name: "pipeline", generateHandler: async (v: unknown) => `handled:${String(v)}` },
      async function* (n: number): AsyncGenerator<unknown, { first: unknown }, unknown> {
        const first = yield "INIT";
        for (let i = 0; i < n; i++) {
          if (i === 1) await opened; // the client must see outputs before the task ends
          yield i;
        }
        return { first };
      },
    );
    await a.start();
    const h = await t.addTask(3);
    const received: unknown[] = [];
    for await (const out of h.stream({ timeout: 10 })) {
      received.push(out);
      if (received.length === 2) {
        expect((await h.get())?.status).toBe("process");
        gate();
      }
    }
    expect(received).toEqual(["handled:INIT", "handled:0", "handled:1", "handled:2"]);
    expect(await h.result({ timeout: 5 })).toEqual({ first: "handled:INIT" });
  });

  it("a generator that returns nothing stores the list of outputs", async () => {
    const a = app();
    const t = a.task({ name: "gen_list" }, function* () {
      yield 1;
      yield 2;
    });
    await a.start();
    expect(await (await t.addTask()).result({ timeout: 5 })).toEqual([1, 2]);
  });
});

describe("priority, tags, description, decode", () => {
  it("are visible on the task object and the record; decode transforms the stored result", async () => {
    const a = app();
    const t = a.task(
      {
        name: "decorated",
        priority: 4,
        tags: ["x", "y"],
        description: "does things",
        decode: (r) => `<${r}>`,
      },
      () => "raw",
    );
    expect(t.priority).toBe(4);
    expect(t.tags).toEqual(["x", "y"]);
    expect(t.description).toBe("does things");
    await a.start();
    const h = await t.with({ tags: ["call"] }).addTask();
    const rec = await h.wait({ timeout: 5 });
    expect(rec).toMatchObject({
      priority: 4,
      tags: ["x", "y", "call"],
      returning: "<raw>",
      status: "success",
    });
  });

  it("a result that cannot be stored ends the task in error with a clear message", async () => {
    const a = app();
    const t = a.task({ name: "bad_result" }, () => ({ when: new Date() }));
    const big = a.task({ name: "big_result" }, () => "x".repeat(2 * 1024 * 1024));
    await a.start();
    const rec = await (await t.addTask()).wait({ timeout: 5 });
    expect(rec.status).toBe("error");
    expect(rec.errorName).toBe("SerializationError");
    expect(rec.traceback).toContain("result.when is a Date");
    const rec2 = await (await big.addTask()).wait({ timeout: 5 });
    expect(rec2.status).toBe("error");
    expect(rec2.errorName).toBe("PayloadTooLargeError");
  });
});

describe("plugins", () => {
  it("onEnqueue patches are merged explicitly; a failing plugin does not skip the others", async () => {
    const calls: string[] = [];
    const broken: Plugin = {
      name: "broken",
      onEnqueue: () => {
        throw new Error("plugin bug");
      },
      onTaskFinish: () => {
        throw new Error("finish bug");
      },
    };
    const bump: Plugin = {
      name: "bump",
      onEnqueue: (input) => (input.taskName === "plugged" ? { priority: 9 } : undefined),
      onTaskStart: (ctx) => void calls.push(`start:${ctx.taskName}`),
      onTaskFinish: ({ record }) => void calls.push(`finish:${record.status}:${String(record.returning)}`),
    };
    const a = app({ plugins: [broken, bump] });
    const errors: string[] = [];
    a.events.on("plugin:error", (e) => errors.push(`${e.plugin}.${e.hook}`));
    const t = a.task({ name: "plugged" }, (x: string, y: number) => `${x}${y}`);
    await a.start();
    const h = await t.addTask("a", 1);
    const rec = await h.wait({ timeout: 5 });
    expect(rec.priority).toBe(9);
    expect(rec.args).toEqual(["a", 1]);
    expect(rec.returning).toBe("a1");
    await sleep(20);
    expect(calls).toEqual(["start:plugged", "finish:success:a1"]);
    expect(errors).toEqual(["broken.onEnqueue", "broken.onTaskFinish"]);
  });
});

describe("events", () => {
  it("emits enqueue, start, success, error, retry and cancel", async () => {
    const a = app();
    const seen: string[] = [];
    for (const e of [
      "task:enqueue",
      "task:start",
      "task:success",
      "task:error",
      "task:retry",
      "task:cancel",
    ] as const)
      a.events.on(e, (p) => seen.push(`${e}:${p.taskName}`));
    a.task({ name: "ok" }, () => 1);
    let n = 0;
    a.task({ name: "retry_once", retry: 1 }, () => {
      if (n++ === 0) throw new Error("first");
      return 2;
    });
    a.task({ name: "fails" }, () => {
      throw new Error("x");
    });
    a.task({ name: "cancelled", echo: true }, (self) => self.ctx.cancel("no"));
    await a.start();
    for (const name of ["ok", "retry_once", "fails", "cancelled"])
      await (await a.addTask(name)).wait({ timeout: 5 });
    for (const e of [
      "task:enqueue:ok",
      "task:success:ok",
      "task:retry:retry_once",
      "task:success:retry_once",
      "task:error:fails",
      "task:cancel:cancelled",
      "task:start:fails",
    ])
      expect(seen).toContain(e);
  });
});
