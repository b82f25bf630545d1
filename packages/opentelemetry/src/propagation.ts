import {
  type Context,
  defaultTextMapSetter,
  isSpanContextValid,
  propagation,
  type SpanContext,
  type TextMapPropagator,
  trace,
} from "@opentelemetry/api";

/**
 * The key of the envelope's `extra` that carries the trace context: an object of the propagator's
 * fields (W3C: `traceparent`, `tracestate`; plus `baggage` when a baggage propagator is set). It is
 * stored on the task record too, so a retry (which copies `extra`) stays in the trace.
 */
export const TRACE_CONTEXT_KEY = "otel";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
/** Longest carrier value read back: a hostile envelope cannot make us parse megabytes. */
const MAX_VALUE_LENGTH = 1024;

/**
 * `extra` with the context's trace context added, or `undefined` when there is none to carry.
 * Uses the given or global propagator; when that wrote no `traceparent` (no SDK registered a
 * propagator, so the global one is a no-op) the W3C one is written here, so an app traces across
 * processes with only a tracer provider set up.
 */
export function injectTraceContext(
  ctx: Context,
  extra: Readonly<Record<string, unknown>>,
  propagator: TextMapPropagator | undefined,
): Record<string, unknown> | undefined {
  const carrier: Record<string, string> = {};
  if (propagator) propagator.inject(ctx, carrier, defaultTextMapSetter);
  else propagation.inject(ctx, carrier);
  if (carrier.traceparent === undefined) {
    const span = trace.getSpanContext(ctx);
    if (span && isSpanContextValid(span)) carrier.traceparent = formatTraceparent(span);
  }
  if (Object.keys(carrier).length === 0) return undefined;
  return { ...extra, [TRACE_CONTEXT_KEY]: carrier };
}

/**
 * The context an envelope's `extra` carries, on top of `parent`; `parent` itself when it carries
 * none or something malformed (the envelope came from a broker: nothing in it is trusted).
 */
export function extractTraceContext(
  parent: Context,
  extra: Readonly<Record<string, unknown>> | undefined,
  propagator: TextMapPropagator | undefined,
): Context {
  const raw = extra?.[TRACE_CONTEXT_KEY];
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return parent;
  const carrier: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw))
    if (typeof value === "string" && value.length <= MAX_VALUE_LENGTH) carrier[key] = value;
  const getter = {
    get: (c: Record<string, string>, key: string) => (Object.hasOwn(c, key) ? c[key] : undefined),
    keys: (c: Record<string, string>) => Object.keys(c),
  };
  let ctx = propagator
    ? propagator.extract(parent, carrier, getter)
    : propagation.extract(parent, carrier, getter);
  if (trace.getSpanContext(ctx) === trace.getSpanContext(parent) && carrier.traceparent !== undefined) {
    const span = parseTraceparent(carrier.traceparent);
    if (span) ctx = trace.setSpanContext(ctx, span);
  }
  return ctx;
}

export function formatTraceparent(span: SpanContext): string {
  return `00-${span.traceId}-${span.spanId}-${(span.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

/** A W3C `traceparent` (version 00) as a remote span context, or undefined. */
export function parseTraceparent(text: string): SpanContext | undefined {
  const m = TRACEPARENT.exec(text);
  if (!m) return undefined;
  const span: SpanContext = {
    traceId: m[1]!,
    spanId: m[2]!,
    traceFlags: Number.parseInt(m[3]!, 16) & 1,
    isRemote: true,
  };
  return isSpanContextValid(span) ? span : undefined;
}
