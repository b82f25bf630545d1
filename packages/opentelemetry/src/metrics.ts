import type {
  Attributes,
  BatchObservableResult,
  Counter,
  Histogram,
  Meter,
  ObservableGauge,
} from "@opentelemetry/api";
import type { TaskRecord, TaskStatus } from "@qtasks/core";
import { ATTR, METRIC } from "./names";

/** Seconds; from a few milliseconds (a busy queue's wait) to an hour (a long job's run). */
const DURATION_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600,
];

/** The label a task name past the cardinality limit is counted under. */
export const OTHER_TASKS = "_other";

/** What the queue-wide gauges and the dead-letter counter read (a `QueueTasks` app fits). */
export interface ObservedApp {
  readonly storage: { count(): Promise<Record<TaskStatus, number>> };
  readonly globalConfig: { listWorkers(): Promise<readonly unknown[]> };
  readonly events: {
    on(event: "task:dead-letter", listener: (payload: { taskName?: string }) => void): () => void;
  };
}

/**
 * The task metrics, recorded through the OpenTelemetry metrics API. Labels are bounded: the task
 * name (at most `maxTaskNames` distinct ones, then `_other`), the outcome and the status; never a
 * uuid or an argument.
 */
export class TaskMetrics {
  private readonly enqueuedCounter: Counter;
  private readonly startedCounter: Counter;
  private readonly succeededCounter: Counter;
  private readonly failedCounter: Counter;
  private readonly retriedCounter: Counter;
  private readonly cancelledCounter: Counter;
  private readonly deadLetteredCounter: Counter;
  private readonly waitHistogram: Histogram;
  private readonly runHistogram: Histogram;
  private readonly tasksGauge: ObservableGauge;
  private readonly workersGauge: ObservableGauge;
  /** Runs in this process now, by task label. */
  private readonly running = new Map<string, number>();
  /** One attributes object per task label (and per label and outcome): none built per task. */
  private readonly byName = new Map<string, Attributes>();
  private readonly byOutcome = new Map<string, Attributes>();

  constructor(
    private readonly meter: Meter,
    private readonly maxTaskNames: number,
  ) {
    const counter = (name: string, description: string) =>
      meter.createCounter(name, { description, unit: "{task}" });
    this.enqueuedCounter = counter(METRIC.enqueued, "Tasks enqueued (written and published)");
    this.startedCounter = counter(METRIC.started, "Attempts started by a worker");
    this.succeededCounter = counter(METRIC.succeeded, "Attempts that ended success");
    this.failedCounter = counter(METRIC.failed, "Attempts that ended error (no retry left)");
    this.retriedCounter = counter(METRIC.retried, "Attempts that failed and were enqueued again");
    this.cancelledCounter = counter(METRIC.cancelled, "Attempts that ended cancel");
    this.deadLetteredCounter = counter(METRIC.deadLettered, "Tasks dead-lettered by the worker");
    const advice = { explicitBucketBoundaries: DURATION_BUCKETS };
    this.waitHistogram = meter.createHistogram(METRIC.waitDuration, {
      description: "Seconds from enqueue (or the retry's publish) to the start of the attempt",
      unit: "s",
      advice,
    });
    this.runHistogram = meter.createHistogram(METRIC.runDuration, {
      description: "Seconds the executor ran one attempt (middleware and handler)",
      unit: "s",
      advice,
    });
    meter
      .createObservableGauge(METRIC.inFlight, {
        description: "Attempts running in this process",
        unit: "{task}",
      })
      .addCallback((result) => {
        for (const [label, n] of this.running) result.observe(n, this.nameAttributes(label));
      });
    this.tasksGauge = meter.createObservableGauge(METRIC.tasks, {
      description: "Task records by status, queue-wide (read from the storage at each collection)",
      unit: "{task}",
    });
    this.workersGauge = meter.createObservableGauge(METRIC.workers, {
      description: "Workers with a live heartbeat, queue-wide",
      unit: "{worker}",
    });
  }

  enqueued(taskNames: readonly string[]): void {
    for (const name of taskNames) this.enqueuedCounter.add(1, this.nameAttributes(this.label(name)));
  }

  /** An attempt starts; `enqueuedAt` in epoch ms. Returns the label to pass to `ended`. */
  started(taskName: string, enqueuedAt: number): string {
    const label = this.label(taskName);
    const attributes = this.nameAttributes(label);
    this.startedCounter.add(1, attributes);
    this.waitHistogram.record(Math.max(0, Date.now() - enqueuedAt) / 1000, attributes);
    this.running.set(label, (this.running.get(label) ?? 0) + 1);
    return label;
  }

  /** The attempt's executor returned `outcome` after `seconds`. */
  ended(label: string, outcome: string, seconds: number): void {
    // Kept at 0 rather than deleted: a gauge that goes quiet reads as "no data", not "idle".
    this.running.set(label, Math.max(0, (this.running.get(label) ?? 1) - 1));
    const key = `${outcome}\u0000${label}`;
    let attributes = this.byOutcome.get(key);
    if (!attributes) {
      attributes = { [ATTR.taskName]: label, [ATTR.outcome]: outcome };
      this.byOutcome.set(key, attributes);
    }
    this.runHistogram.record(seconds, attributes);
  }

  /** The final record of an attempt was written (what `onTaskFinish` sees). */
  finished(record: TaskRecord): void {
    const attributes = this.nameAttributes(this.label(record.taskName));
    switch (record.status) {
      case "success":
        this.succeededCounter.add(1, attributes);
        break;
      case "error":
        this.failedCounter.add(1, attributes);
        break;
      case "retry":
        this.retriedCounter.add(1, attributes);
        break;
      case "cancel":
        this.cancelledCounter.add(1, attributes);
        break;
    }
  }

  /**
   * Reports the queue-wide gauges from `app` at each collection (one storage count and one worker
   * list per collection) and counts its dead letters. Returns a function that stops both.
   */
  observe(app: ObservedApp): () => void {
    const offDeadLetter = app.events.on("task:dead-letter", ({ taskName }) =>
      this.deadLetteredCounter.add(1, this.nameAttributes(this.label(taskName ?? "_unknown"))),
    );
    const callback = async (result: BatchObservableResult) => {
      const [counts, workers] = await Promise.all([
        app.storage.count().catch(() => undefined),
        app.globalConfig.listWorkers().catch(() => undefined),
      ]);
      if (counts)
        for (const [status, n] of Object.entries(counts))
          result.observe(this.tasksGauge, n, { [ATTR.status]: status });
      if (workers) result.observe(this.workersGauge, workers.length);
    };
    const gauges = [this.tasksGauge, this.workersGauge];
    this.meter.addBatchObservableCallback(callback, gauges);
    return () => {
      offDeadLetter();
      this.meter.removeBatchObservableCallback(callback, gauges);
    };
  }

  /** The task name, or `_other` once `maxTaskNames` distinct names were seen. */
  private label(taskName: string): string {
    if (this.byName.has(taskName)) return taskName;
    return this.byName.size < this.maxTaskNames ? taskName : OTHER_TASKS;
  }

  private nameAttributes(label: string): Attributes {
    let attributes = this.byName.get(label);
    if (!attributes) {
      attributes = { [ATTR.taskName]: label };
      this.byName.set(label, attributes);
    }
    return attributes;
  }
}
