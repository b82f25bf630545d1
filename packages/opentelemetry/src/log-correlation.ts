import { isSpanContextValid, trace } from "@opentelemetry/api";

/** The trace fields of a log line, named as OpenTelemetry's log correlation names them. */
export interface TraceLogFields {
  trace_id?: string;
  span_id?: string;
  trace_flags?: string;
}

/**
 * The ids of the span current now (inside a task: its CONSUMER span), for log lines. Give it to
 * pino as `mixin` (`pino({ mixin: traceLogFields })`) and every line a task logs carries the
 * trace beside the task name, uuid and attempt that qtasks binds. Empty outside a span.
 */
export function traceLogFields(): TraceLogFields {
  const span = trace.getActiveSpan()?.spanContext();
  if (!span || !isSpanContextValid(span)) return {};
  return {
    trace_id: span.traceId,
    span_id: span.spanId,
    trace_flags: `0${span.traceFlags.toString(16)}`.slice(-2),
  };
}
