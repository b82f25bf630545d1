/**
 * Attribute and metric names. Messaging ones follow the OpenTelemetry messaging semantic
 * conventions (v1.27+); `qtasks.*` ones are this package's. Kept as strings here rather than
 * imported: the messaging conventions are still "incubating" in `@opentelemetry/semantic-conventions`.
 */
export const ATTR = {
  system: "messaging.system",
  destination: "messaging.destination.name",
  operationType: "messaging.operation.type",
  operationName: "messaging.operation.name",
  messageId: "messaging.message.id",
  batchCount: "messaging.batch.message_count",
  clientId: "messaging.client.id",
  taskName: "qtasks.task.name",
  attempt: "qtasks.task.attempt",
  retries: "qtasks.task.retries",
  priority: "qtasks.task.priority",
  parentUuid: "qtasks.task.parent_uuid",
  retryOf: "qtasks.task.retry_of",
  outcome: "qtasks.task.outcome",
  status: "qtasks.task.status",
} as const;

/** `messaging.system` of every span and metric. */
export const MESSAGING_SYSTEM = "qtasks";

/** Metric names (Prometheus: dots become underscores, counters get `_total`, seconds `_seconds`). */
export const METRIC = {
  enqueued: "qtasks.task.enqueued",
  started: "qtasks.task.started",
  succeeded: "qtasks.task.succeeded",
  failed: "qtasks.task.failed",
  retried: "qtasks.task.retried",
  cancelled: "qtasks.task.cancelled",
  deadLettered: "qtasks.task.dead_lettered",
  waitDuration: "qtasks.task.wait.duration",
  runDuration: "qtasks.task.run.duration",
  tasks: "qtasks.tasks",
  inFlight: "qtasks.tasks.in_flight",
  workers: "qtasks.workers",
} as const;

/** The instrumentation scope name (tracer and meter). */
export const SCOPE = "@qtasks/opentelemetry";
