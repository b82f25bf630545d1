export { type TraceLogFields, traceLogFields } from "./log-correlation";
export { type ObservedApp, OTHER_TASKS, TaskMetrics } from "./metrics";
export { ATTR, MESSAGING_SYSTEM, METRIC, SCOPE } from "./names";
export { OpenTelemetryPlugin, type OpenTelemetryPluginOptions } from "./plugin";
export {
  MetricsEndpointError,
  metricsPortFromEnv,
  PrometheusEndpoint,
  type PrometheusEndpointOptions,
} from "./prometheus-server";
export {
  extractTraceContext,
  formatTraceparent,
  injectTraceContext,
  parseTraceparent,
  TRACE_CONTEXT_KEY,
} from "./propagation";
export { TaskTracing } from "./tracing";
