import {
  type MeterProvider,
  metrics,
  type TextMapPropagator,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import {
  type EnqueueCallHookInput,
  type EnqueueHookInput,
  type EnqueuePatch,
  type ExecutionOutcome,
  InvalidOptionError,
  type Plugin,
  type RunHookInput,
  type TaskEnvelope,
  type TaskFinishHookInput,
} from "@qtasks/core";
import pkg from "../package.json";
import { type ObservedApp, TaskMetrics } from "./metrics";
import { SCOPE } from "./names";
import { metricsPortFromEnv, PrometheusEndpoint, type PrometheusEndpointOptions } from "./prometheus-server";
import { TaskTracing } from "./tracing";

const VERSION: string = pkg.version;

export interface OpenTelemetryPluginOptions {
  /** Where spans go. Default: the global tracer provider (what your SDK registered). */
  tracerProvider?: TracerProvider;
  /** Where metrics go. Default: the global meter provider, read at the first measurement. */
  meterProvider?: MeterProvider;
  /** Writes and reads the trace context in envelopes. Default: the global propagator, with a W3C
   * `traceparent` written and read here when it is the no-op one. */
  propagator?: TextMapPropagator;
  /** Record spans (default true). */
  traces?: boolean;
  /** Record metrics (default true). */
  metrics?: boolean;
  /**
   * Serve the metrics at `/metrics` in the Prometheus format while the worker runs (from its
   * start to its stop). The metrics then go to the endpoint's own meter provider (so not with
   * `meterProvider`). Default: on when `QTASKS_METRICS_PORT` is set (`qtasks run --metrics-port`).
   */
  prometheus?: PrometheusEndpointOptions | boolean;
  /** Distinct task names used as metric labels; past it, tasks count as `_other`. Default 200. */
  maxTaskNames?: number;
}

/**
 * OpenTelemetry for qtasks: a PRODUCER span per enqueue call and a CONSUMER span per attempt in
 * the producer's trace (the context travels in the envelope's `extra.otel`), and the task metrics.
 * Give it to the app (`plugins: [telemetry]`), then `telemetry.observe(app)` for the queue-wide
 * gauges and the dead-letter count.
 */
export class OpenTelemetryPlugin implements Plugin {
  readonly name = "opentelemetry";
  /** The Prometheus endpoint, when `prometheus` is on. */
  readonly prometheus: PrometheusEndpoint | undefined;
  private readonly tracing: TaskTracing | undefined;
  private readonly meterProvider: MeterProvider | undefined;
  private readonly metricsOn: boolean;
  private readonly maxTaskNames: number;
  private taskMetrics: TaskMetrics | undefined;

  constructor(options: OpenTelemetryPluginOptions = {}) {
    if (options.traces !== false) {
      const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE, VERSION);
      this.tracing = new TaskTracing(tracer, options.propagator);
    }
    this.metricsOn = options.metrics !== false;
    this.maxTaskNames = options.maxTaskNames ?? 200;
    if (!Number.isInteger(this.maxTaskNames) || this.maxTaskNames < 1)
      throw new InvalidOptionError("maxTaskNames", "must be a positive integer");
    const envPort = metricsPortFromEnv();
    const prometheus =
      options.prometheus === undefined ? (envPort === undefined ? false : {}) : options.prometheus;
    if (prometheus !== false && this.metricsOn) {
      if (options.meterProvider)
        throw new InvalidOptionError(
          "prometheus",
          "the Prometheus endpoint has its own meter provider; pass meterProvider or prometheus, not both (add a PrometheusExporter reader to your provider instead)",
        );
      this.prometheus = new PrometheusEndpoint({
        ...(envPort === undefined ? {} : { port: envPort }),
        ...(prometheus === true ? {} : prometheus),
      });
      this.meterProvider = this.prometheus.meterProvider;
    } else this.meterProvider = options.meterProvider;
  }

  /**
   * Reports the queue-wide gauges (tasks by status, workers alive) from the app's storage and
   * GlobalConfig at each collection, and counts its dead letters. Returns a function that stops.
   */
  observe(app: ObservedApp): () => void {
    const m = this.metrics();
    return m ? m.observe(app) : () => {};
  }

  aroundEnqueue(
    input: EnqueueCallHookInput,
    enqueue: () => Promise<readonly TaskEnvelope[]>,
  ): Promise<readonly TaskEnvelope[]> {
    const m = this.metrics();
    const counted = m
      ? async () => {
          const envelopes = await enqueue();
          m.enqueued(envelopes.map((e) => e.taskName));
          return envelopes;
        }
      : enqueue;
    return this.tracing ? this.tracing.send(input, counted) : counted();
  }

  onEnqueue(input: EnqueueHookInput): EnqueuePatch | undefined {
    const extra = this.tracing?.inject(input.extra);
    return extra ? { extra } : undefined;
  }

  async aroundRun(input: RunHookInput, run: () => Promise<ExecutionOutcome>): Promise<ExecutionOutcome> {
    const m = this.metrics();
    const measured = m
      ? async () => {
          const label = m.started(input.envelope.taskName, input.envelope.enqueuedAt);
          const t0 = performance.now();
          let outcome: ExecutionOutcome | undefined;
          try {
            outcome = await run();
            return outcome;
          } finally {
            m.ended(label, outcome?.status ?? "error", (performance.now() - t0) / 1000);
          }
        }
      : run;
    if (!this.tracing) return measured();
    return this.tracing.process(input, measured, workerId(input));
  }

  onTaskFinish(input: TaskFinishHookInput): void {
    this.metrics()?.finished(input.record);
  }

  async onWorkerStart(): Promise<void> {
    await this.prometheus?.start();
  }

  async onWorkerStop(): Promise<void> {
    await this.prometheus?.stop();
  }

  /** Stops the Prometheus endpoint and its meter provider, if any. */
  async shutdown(): Promise<void> {
    await this.prometheus?.shutdown();
  }

  /** The instruments, made at the first measurement (a global meter provider set after the plugin
   * was built still applies). */
  private metrics(): TaskMetrics | undefined {
    if (!this.metricsOn) return undefined;
    if (!this.taskMetrics) {
      const meter = (this.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE, VERSION);
      this.taskMetrics = new TaskMetrics(meter, this.maxTaskNames);
    }
    return this.taskMetrics;
  }
}

function workerId(input: RunHookInput): string | undefined {
  try {
    return input.ctx.getComponent("worker").id;
  } catch {
    return undefined;
  }
}
