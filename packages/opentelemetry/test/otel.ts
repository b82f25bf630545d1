import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";

/** The async-hooks context manager, as `sdk-trace-node` would register it (once per process). */
export function enableContext(): () => void {
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  return () => context.disable();
}

/** A tracer provider whose spans land in memory. */
export function memoryTracing() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { exporter, provider };
}

/** A meter provider with the SDK's in-memory exporter behind a reader that exports on demand. */
export function memoryMetrics() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 1_000_000_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    /** Collects now and returns every metric by name. */
    async collect(): Promise<Map<string, MetricData>> {
      exporter.reset();
      await reader.forceFlush();
      const out = new Map<string, MetricData>();
      for (const rm of exporter.getMetrics())
        for (const sm of rm.scopeMetrics) for (const m of sm.metrics) out.set(m.descriptor.name, m);
      return out;
    },
  };
}

/** `{ label: value }` of a metric's data points, keyed by the value of attribute `key`. */
export function pointsBy(metric: MetricData | undefined, key: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of (metric?.dataPoints ?? []) as DataPoint<number | Histogram>[]) {
    const label = String(p.attributes[key]);
    out[label] = (out[label] ?? 0) + (typeof p.value === "number" ? p.value : p.value.count);
  }
  return out;
}
