import {
  type Attributes,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type { EnqueueCallHookInput, ExecutionOutcome, RunHookInput, TaskEnvelope } from "@qtasks/core";
import { ATTR, MESSAGING_SYSTEM } from "./names";
import { extractTraceContext, injectTraceContext } from "./propagation";

/**
 * The spans of the messaging conventions: a PRODUCER `send` span per enqueue call (one for a bulk
 * call, with `messaging.batch.message_count`), whose context every envelope of the call carries,
 * and a CONSUMER `process` span per attempt, a child of that context, current while the handler
 * runs so its own spans, logs and `self.addTask` children join the trace.
 */
export class TaskTracing {
  constructor(
    private readonly tracer: Tracer,
    private readonly propagator: TextMapPropagator | undefined,
  ) {}

  async send(
    input: EnqueueCallHookInput,
    enqueue: () => Promise<readonly TaskEnvelope[]>,
  ): Promise<readonly TaskEnvelope[]> {
    const names = input.taskNames;
    const first = names[0];
    const oneName = first !== undefined && names.every((n) => n === first);
    const attributes: Attributes = {
      [ATTR.system]: MESSAGING_SYSTEM,
      [ATTR.destination]: input.appName,
      [ATTR.operationType]: "send",
      [ATTR.operationName]: "send",
    };
    if (oneName) attributes[ATTR.taskName] = first;
    if (names.length !== 1) attributes[ATTR.batchCount] = names.length;
    if (input.parentUuid) attributes[ATTR.parentUuid] = input.parentUuid;
    const parent = context.active();
    const span = this.tracer.startSpan(
      `send ${oneName ? first : input.appName}`,
      { kind: SpanKind.PRODUCER, attributes },
      parent,
    );
    try {
      const envelopes = await context.with(trace.setSpan(parent, span), enqueue);
      const only = envelopes.length === 1 ? envelopes[0] : undefined;
      if (only) {
        span.setAttribute(ATTR.messageId, only.uuid);
        span.setAttribute(ATTR.priority, only.priority);
      }
      return envelopes;
    } catch (error) {
      recordFailure(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /** `extra` with the current (PRODUCER) span's context, for `onEnqueue`. */
  inject(extra: Readonly<Record<string, unknown>>): Record<string, unknown> | undefined {
    return injectTraceContext(context.active(), extra, this.propagator);
  }

  async process(
    input: RunHookInput,
    run: () => Promise<ExecutionOutcome>,
    clientId: string | undefined,
  ): Promise<ExecutionOutcome> {
    const { ctx, envelope } = input;
    // A new root unless the envelope carries a context: a worker's own context (whatever was
    // current when it started) is not the task's.
    const parent = extractTraceContext(ROOT_CONTEXT, envelope.extra, this.propagator);
    const attributes: Attributes = {
      [ATTR.system]: MESSAGING_SYSTEM,
      [ATTR.operationType]: "process",
      [ATTR.operationName]: "process",
      [ATTR.messageId]: envelope.uuid,
      [ATTR.taskName]: envelope.taskName,
      [ATTR.attempt]: ctx.attempt,
      [ATTR.retries]: envelope.retries,
      [ATTR.priority]: envelope.priority,
    };
    if (clientId) attributes[ATTR.clientId] = clientId;
    if (envelope.parentUuid) attributes[ATTR.parentUuid] = envelope.parentUuid;
    if (envelope.retryOf) attributes[ATTR.retryOf] = envelope.retryOf;
    const span = this.tracer.startSpan(
      `process ${envelope.taskName}`,
      { kind: SpanKind.CONSUMER, attributes },
      parent,
    );
    try {
      const outcome = await context.with(trace.setSpan(parent, span), run);
      span.setAttribute(ATTR.outcome, outcome.status);
      if (outcome.status === "error" || outcome.status === "retry") recordFailure(span, outcome.error);
      return outcome;
    } catch (error) {
      recordFailure(span, error);
      throw error;
    } finally {
      span.end();
    }
  }
}

/** The exception event and the error status, for an Error or anything else thrown. */
function recordFailure(span: Span, error: unknown): void {
  if (error instanceof Error) {
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: `${error.name}: ${error.message}` });
    return;
  }
  const message = typeof error === "string" ? error : "non-Error thrown";
  span.recordException({ name: "NonError", message });
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}
