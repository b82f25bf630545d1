import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { propagation, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { RedisBroker } from "@qtasks/broker-redis";
import { QueueTasks, silentLogger, type TaskHandle } from "@qtasks/core";
import { RedisGlobalConfig, RedisStorage } from "@qtasks/storage-redis";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ATTR, METRIC, OpenTelemetryPlugin } from "../src";
import { type SpanData, serializeSpan } from "./fixtures/spans";
import { enableContext, memoryMetrics, memoryTracing, pointsBy } from "./otel";
import { parsePrometheus, sample } from "./prometheus";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
// One app name for this file: every key is under qtasks:{<app>}:.
const appName = `otel-${randomUUID().slice(0, 8)}`;
const redis = new Redis(REDIS_URL);
const disableContext = enableContext();
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

const tracing = memoryTracing();
const meters = memoryMetrics();
const telemetry = new OpenTelemetryPlugin({
  tracerProvider: tracing.provider,
  meterProvider: meters.provider,
});
const producer = new QueueTasks({
  name: appName,
  broker: new RedisBroker({ url: REDIS_URL }),
  storage: new RedisStorage({ url: REDIS_URL }),
  globalConfig: new RedisGlobalConfig({ url: REDIS_URL }),
  logger: silentLogger,
  plugins: [telemetry],
});

let worker: ChildProcess;
let metricsUrl: string;
let stdout = "";
let stderr = "";
const h: Record<string, TaskHandle<unknown>> = {};
let bulk: TaskHandle<unknown>[] = [];
let workerSpans: SpanData[] = [];
let producerSpans: SpanData[] = [];

function fromWorker<T>(pick: (m: Record<string, unknown>) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Record<string, unknown>) => {
      const v = pick(m);
      if (v !== undefined) {
        worker.off("message", onMessage);
        resolve(v);
      }
    };
    worker.on("message", onMessage);
    worker.once("exit", (code) => reject(new Error(`worker exited (${code}): ${stderr}`)));
  });
}

beforeAll(async () => {
  worker = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(new URL("./fixtures/worker.ts", import.meta.url))],
    {
      env: { ...process.env, REDIS_URL, QTASKS_TEST_APP: appName },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    },
  );
  worker.stdout!.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  worker.stderr!.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  metricsUrl = await fromWorker((m) => (m.ready ? (m.metricsUrl as string) : undefined));

  // The known mix: 4 ok (one single, two in a bulk call, one child), a task that fails once then
  // succeeds on its retry, one that always fails, the parent of the child, one that cancels itself.
  h.ok = await producer.addTask("ok", 1);
  bulk = await producer.addTasks([
    { task: "ok", args: [2] },
    { task: "ok", args: [3] },
  ]);
  h.flaky = await producer.addTask("flaky", 7);
  h.boom = await producer.addTask("boom");
  h.parent = await producer.addTask("parent");
  h.bye = await producer.addTask("bye");
  for (const handle of [...Object.values(h), ...bulk]) await handle.wait({ timeout: 20 });
  worker.send("spans");
  workerSpans = await fromWorker((m) => m.spans as SpanData[] | undefined);
  producerSpans = tracing.exporter.getFinishedSpans().map(serializeSpan);
}, 60_000);

afterAll(async () => {
  await producer.stop({ timeout: 1 });
  if (worker.exitCode === null) {
    const exited = new Promise((r) => worker.once("exit", r));
    worker.send("stop");
    await exited;
  }
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", `*{${appName}}*`, "COUNT", 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  disableContext();
});

const consumer = (uuid: string) =>
  workerSpans.filter((s) => s.kind === SpanKind.CONSUMER && s.attributes[ATTR.messageId] === uuid);
const producerSend = (name: string) =>
  producerSpans.filter((s) => s.name === name && s.kind === SpanKind.PRODUCER);

describe("a producer process and a worker process on Redis", () => {
  it("the worker's attempt span is in the producer's trace, a child of its PRODUCER span", () => {
    const [send] = producerSend("send ok").filter((s) => s.attributes[ATTR.messageId] === h.ok!.uuid);
    expect(send!.attributes).toMatchObject({
      [ATTR.system]: "qtasks",
      [ATTR.destination]: appName,
      [ATTR.operationType]: "send",
      [ATTR.taskName]: "ok",
      [ATTR.priority]: 0,
    });
    const [run] = consumer(h.ok!.uuid);
    expect(run!.traceId).toBe(send!.traceId);
    expect(run!.parentSpanId).toBe(send!.spanId);
    expect(run!.name).toBe("process ok");
    expect(run!.attributes).toMatchObject({
      [ATTR.system]: "qtasks",
      [ATTR.operationType]: "process",
      [ATTR.operationName]: "process",
      [ATTR.messageId]: h.ok!.uuid,
      [ATTR.taskName]: "ok",
      [ATTR.attempt]: 1,
      [ATTR.retries]: 0,
      [ATTR.priority]: 0,
      [ATTR.outcome]: "success",
    });
    expect(run!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("one PRODUCER span for a bulk addTasks, parent of each task's attempt", () => {
    const batch = producerSend("send ok").filter((s) => s.attributes[ATTR.batchCount] === 2);
    expect(batch).toHaveLength(1);
    for (const handle of bulk) {
      const [run] = consumer(handle.uuid);
      expect(run!.parentSpanId).toBe(batch[0]!.spanId);
      expect(run!.traceId).toBe(batch[0]!.traceId);
    }
  });

  it("a retried task's two attempts are in one trace; the failed one has the error and the exception", async () => {
    const [send] = producerSend("send flaky");
    const first = consumer(h.flaky!.uuid);
    const retryUuid = (await producer.get(h.flaky!.uuid))!.retryUuid!;
    const second = consumer(retryUuid);
    expect(first).toHaveLength(1);
    expect(second).toHaveLength(1);
    expect(first[0]!.traceId).toBe(send!.traceId);
    expect(second[0]!.traceId).toBe(send!.traceId);
    expect(second[0]!.attributes).toMatchObject({
      [ATTR.retries]: 1,
      [ATTR.retryOf]: h.flaky!.uuid,
      [ATTR.outcome]: "success",
    });
    expect(first[0]!.attributes[ATTR.outcome]).toBe("retry");
    expect(first[0]!.status).toEqual({ code: SpanStatusCode.ERROR, message: "Error: first attempt fails" });
    expect(first[0]!.events.map((e) => e.name)).toEqual(["exception"]);
    const [boom] = consumer(h.boom!.uuid);
    expect(boom!.status).toEqual({ code: SpanStatusCode.ERROR, message: "TypeError: always" });
    expect(boom!.events[0]!.attributes).toMatchObject({
      "exception.type": "TypeError",
      "exception.message": "always",
    });
  });

  it("a child task (self.addTask) is in its parent's trace", async () => {
    const [send] = producerSend("send parent");
    const [parentRun] = consumer(h.parent!.uuid);
    expect(parentRun!.traceId).toBe(send!.traceId);
    const childSend = workerSpans.find(
      (s) => s.kind === SpanKind.PRODUCER && s.attributes[ATTR.parentUuid] === h.parent!.uuid,
    )!;
    expect(childSend.parentSpanId).toBe(parentRun!.spanId);
    const childUuid = childSend.attributes[ATTR.messageId] as string;
    const [childRun] = consumer(childUuid);
    expect(childRun!.traceId).toBe(send!.traceId);
    expect(childRun!.parentSpanId).toBe(childSend.spanId);
    expect((await producer.get(childUuid))!.parentUuid).toBe(h.parent!.uuid);
  });

  it("a task's pino lines carry its name, uuid, attempt and trace", () => {
    const lines = stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = lines.find((l) => l.msg === "ok ran" && l.x === 1)!;
    const [run] = consumer(h.ok!.uuid);
    expect(line).toMatchObject({
      app: appName,
      task: "ok",
      uuid: h.ok!.uuid,
      attempt: 1,
      trace_id: run!.traceId,
      span_id: run!.spanId,
    });
  });

  it("the producer counts what it enqueued", async () => {
    const m = await meters.collect();
    expect(pointsBy(m.get(METRIC.enqueued), ATTR.taskName)).toEqual({
      ok: 3,
      flaky: 1,
      boom: 1,
      parent: 1,
      bye: 1,
    });
  });

  it("the worker's Prometheus endpoint, scraped over HTTP, holds the counts of the mix", async () => {
    const res = await fetch(metricsUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    const samples = parsePrometheus(text);
    const byTask = (name: string) => sample(samples, name, "qtasks_task_name");
    expect(byTask("qtasks_task_started_total")).toEqual({ ok: 4, flaky: 2, boom: 1, parent: 1, bye: 1 });
    expect(byTask("qtasks_task_succeeded_total")).toEqual({ ok: 4, flaky: 1, parent: 1 });
    expect(byTask("qtasks_task_failed_total")).toEqual({ boom: 1 });
    expect(byTask("qtasks_task_retried_total")).toEqual({ flaky: 1 });
    expect(byTask("qtasks_task_cancelled_total")).toEqual({ bye: 1 });
    // Only the child was enqueued in the worker process.
    expect(byTask("qtasks_task_enqueued_total")).toEqual({ ok: 1 });
    expect(byTask("qtasks_task_wait_duration_count")).toEqual({
      ok: 4,
      flaky: 2,
      boom: 1,
      parent: 1,
      bye: 1,
    });
    expect(sample(samples, "qtasks_task_run_duration_count", "qtasks_task_outcome")).toEqual({
      success: 6,
      retry: 1,
      error: 1,
      cancel: 1,
    });
    expect(sample(samples, "qtasks_tasks", "qtasks_task_status")).toEqual({
      new: 0,
      process: 0,
      success: 6,
      retry: 1,
      error: 1,
      cancel: 1,
    });
    expect(sample(samples, "qtasks_workers")).toEqual({ "": 1 });
    expect(byTask("qtasks_tasks_in_flight")).toEqual({ ok: 0, flaky: 0, boom: 0, parent: 0, bye: 0 });
    // No label holds a uuid.
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);
  });
});
