import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { MemoryBroker, QueueTasks, silentLogger } from "@qtasks/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ATTR, METRIC, OpenTelemetryPlugin, TRACE_CONTEXT_KEY } from "../src";
import { enableContext, memoryMetrics, memoryTracing, pointsBy } from "./otel";

const disable = enableContext();
afterAll(() => disable());
const apps: QueueTasks[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop({ timeout: 1 })));
});

function setup(broker?: MemoryBroker) {
  const tracing = memoryTracing();
  const meters = memoryMetrics();
  const telemetry = new OpenTelemetryPlugin({
    tracerProvider: tracing.provider,
    meterProvider: meters.provider,
  });
  const app = new QueueTasks({
    name: "mem",
    logger: silentLogger,
    plugins: [telemetry],
    ...(broker ? { broker } : {}),
  });
  apps.push(app);
  telemetry.observe(app);
  return { app, telemetry, spans: () => tracing.exporter.getFinishedSpans(), collect: meters.collect };
}

const byName = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);

describe("OpenTelemetryPlugin in one process (in-memory broker and storage)", () => {
  it("a known mix: spans in one trace per enqueue, exact counters, histograms and gauges", async () => {
    const { app, spans, collect } = setup();
    const ok = app.task({ name: "ok" }, (x: number) => x);
    const seen = new Set<number>();
    const flaky = app.task({ name: "flaky", retry: 1 }, (x: number) => {
      if (!seen.has(x)) {
        seen.add(x);
        throw new Error("first attempt fails");
      }
      return x;
    });
    const boom = app.task({ name: "boom" }, () => {
      throw new TypeError("always");
    });
    const parent = app.task({ name: "parent", echo: true }, async (self) => {
      const child = await self.addTask(ok, 99);
      return child.result({ timeout: 5 });
    });
    const bye = app.task({ name: "bye", echo: true }, (self) => self.ctx.cancel("not today"));
    await app.start();

    const bulk = await ok.addTasks([[1], [2], [3]]);
    const handles = [
      ...bulk,
      await flaky.addTask(7),
      await boom.addTask(),
      await parent.addTask(),
      await bye.addTask(),
    ];
    for (const h of handles) await h.wait({ timeout: 5 });
    // wait() follows the retry to its final record; the first record says "retry".
    const flakyRecord = (await app.get(handles[3]!.uuid))!;
    expect(flakyRecord.status).toBe("retry");
    expect((await app.handle(flakyRecord.retryUuid!).wait({ timeout: 5 })).status).toBe("success");

    const all = spans();
    // One PRODUCER span for the bulk call, its three CONSUMER spans children of it.
    const bulkSend = all.find((s) => s.name === "send ok" && s.attributes[ATTR.batchCount] === 3)!;
    expect(bulkSend.kind).toBe(SpanKind.PRODUCER);
    const okRuns = byName(all, "process ok").filter(
      (s) => s.parentSpanContext?.spanId === bulkSend.spanContext().spanId,
    );
    expect(okRuns.map((s) => s.attributes[ATTR.messageId]).sort()).toEqual(bulk.map((h) => h.uuid).sort());
    for (const s of okRuns) {
      expect(s.kind).toBe(SpanKind.CONSUMER);
      expect(s.spanContext().traceId).toBe(bulkSend.spanContext().traceId);
      expect(s.attributes).toMatchObject({
        [ATTR.system]: "qtasks",
        [ATTR.operationType]: "process",
        [ATTR.taskName]: "ok",
        [ATTR.attempt]: 1,
        [ATTR.retries]: 0,
        [ATTR.priority]: 0,
      });
    }
    // The retried task's two attempts share the trace of its send span.
    const flakySend = byName(all, "send flaky")[0]!;
    const flakyRuns = byName(all, "process flaky");
    expect(flakyRuns).toHaveLength(2);
    for (const s of flakyRuns) expect(s.spanContext().traceId).toBe(flakySend.spanContext().traceId);
    expect(flakyRuns.map((s) => s.attributes[ATTR.retries]).sort()).toEqual([0, 1]);
    const failed = flakyRuns.find((s) => s.attributes[ATTR.retries] === 0)!;
    expect(failed.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed.events.map((e) => e.name)).toEqual(["exception"]);
    expect(failed.events[0]!.attributes?.["exception.message"]).toBe("first attempt fails");
    // A failure: error status and the exception event.
    const boomRun = byName(all, "process boom")[0]!;
    expect(boomRun.status).toEqual({ code: SpanStatusCode.ERROR, message: "TypeError: always" });
    expect(boomRun.events[0]!.attributes?.["exception.type"]).toBe("TypeError");
    // The child's send span is a child of the parent's process span: one trace.
    const parentRun = byName(all, "process parent")[0]!;
    const childSend = all.find((s) => s.name === "send ok" && s.attributes[ATTR.parentUuid] !== undefined)!;
    expect(childSend.parentSpanContext?.spanId).toBe(parentRun.spanContext().spanId);
    const childRun = byName(all, "process ok").find(
      (s) => s.attributes[ATTR.parentUuid] === handles[5]!.uuid,
    )!;
    expect(childRun.parentSpanContext?.spanId).toBe(childSend.spanContext().spanId);
    expect(childRun.spanContext().traceId).toBe(byName(all, "send parent")[0]!.spanContext().traceId);
    expect(byName(all, "process bye")[0]!.attributes[ATTR.outcome]).toBe("cancel");

    const m = await collect();
    const name = ATTR.taskName;
    expect(pointsBy(m.get(METRIC.enqueued), name)).toEqual({ ok: 4, flaky: 1, boom: 1, parent: 1, bye: 1 });
    expect(pointsBy(m.get(METRIC.started), name)).toEqual({ ok: 4, flaky: 2, boom: 1, parent: 1, bye: 1 });
    expect(pointsBy(m.get(METRIC.succeeded), name)).toEqual({ ok: 4, flaky: 1, parent: 1 });
    expect(pointsBy(m.get(METRIC.failed), name)).toEqual({ boom: 1 });
    expect(pointsBy(m.get(METRIC.retried), name)).toEqual({ flaky: 1 });
    expect(pointsBy(m.get(METRIC.cancelled), name)).toEqual({ bye: 1 });
    expect(pointsBy(m.get(METRIC.waitDuration), name)).toEqual({
      ok: 4,
      flaky: 2,
      boom: 1,
      parent: 1,
      bye: 1,
    });
    expect(pointsBy(m.get(METRIC.runDuration), ATTR.outcome)).toEqual({
      success: 6,
      retry: 1,
      error: 1,
      cancel: 1,
    });
    expect(pointsBy(m.get(METRIC.tasks), ATTR.status)).toEqual({
      new: 0,
      process: 0,
      success: 6,
      error: 1,
      cancel: 1,
      retry: 1,
    });
    expect(m.get(METRIC.workers)?.dataPoints.map((p) => p.value)).toEqual([1]);
    expect(pointsBy(m.get(METRIC.inFlight), name)).toEqual({ ok: 0, flaky: 0, boom: 0, parent: 0, bye: 0 });
    // Bounded labels: no metric has a uuid or an argument among its attributes.
    for (const metric of m.values())
      for (const p of metric.dataPoints)
        for (const key of Object.keys(p.attributes))
          expect([ATTR.taskName, ATTR.outcome, ATTR.status]).toContain(key);
  });

  it("dead letters are counted by task name", async () => {
    const { app, collect } = setup(new MemoryBroker({ deliveryLimit: 0 }));
    const dl = app.task({ name: "dl" }, () => 1);
    await app.start();
    const handles = await dl.addTasks([[], []]);
    for (const h of handles) expect((await h.wait({ timeout: 5 })).deadLetterReason).toBe("delivery-limit");
    const m = await collect();
    expect(pointsBy(m.get(METRIC.deadLettered), ATTR.taskName)).toEqual({ dl: 2 });
    expect(pointsBy(m.get(METRIC.started), ATTR.taskName)).toEqual({});
  });

  it("the trace context travels as extra.otel without a registered propagator (W3C fallback)", async () => {
    const { app, spans } = setup();
    const t = app.task({ name: "plain" }, () => 1);
    const h = await t.addTask();
    const record = await app.get(h.uuid);
    const send = byName(spans(), "send plain")[0]!;
    const carrier = record!.extra[TRACE_CONTEXT_KEY] as Record<string, string>;
    expect(carrier.traceparent).toBe(`00-${send.spanContext().traceId}-${send.spanContext().spanId}-01`);
  });

  it("past maxTaskNames distinct names, tasks are counted as _other", async () => {
    const meters = memoryMetrics();
    const telemetry = new OpenTelemetryPlugin({
      meterProvider: meters.provider,
      traces: false,
      maxTaskNames: 2,
    });
    const app = new QueueTasks({ logger: silentLogger, plugins: [telemetry] });
    apps.push(app);
    for (const n of ["a", "b", "c", "d"]) await app.addTask(n);
    const m = await meters.collect();
    expect(pointsBy(m.get(METRIC.enqueued), ATTR.taskName)).toEqual({ a: 1, b: 1, _other: 2 });
  });
});
