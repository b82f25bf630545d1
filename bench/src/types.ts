/** A service a subject talks to; its bare-client floor is the "limit" for that subject. */
export type Service = "redis" | "postgres" | "rabbitmq";

export type ScenarioId = "enqueue-single" | "enqueue-bulk" | "drain-c1" | "drain-c50" | "latency";

/** One benchmark run's handle on a queue: created fresh for every scenario run, closed after it. */
export interface Instance {
  /** Enqueue one task `{ i }`; resolves once the queue has durably accepted it. */
  add(i: number): Promise<void>;
  /** Enqueue many tasks in one call (the library's bulk API). */
  addBulk(items: number[]): Promise<void>;
  /**
   * Start consuming in this process with `concurrency` tasks at a time. The handler is a no-op
   * async function that first calls `onRun(i)`.
   */
  startWorker(concurrency: number, onRun: (i: number) => void): Promise<void>;
  /** Tasks in their final successful state, as the service itself reports them. */
  finalCount(): Promise<number>;
  /** Counts of every state the service reports (for the correctness check). */
  states(): Promise<Record<string, number>>;
  /** Stops workers, closes connections and deletes every key / schema / queue of this instance. */
  close(): Promise<void>;
}

export interface Subject {
  /** Stable id used in the JSON and on the command line (`--only`). */
  id: string;
  label: string;
  kind: "qtasks" | "peer" | "limit";
  services: Service[];
  /** Settings used, printed under the table. */
  settings: string;
  /** `null` when it can run here, else why it is absent. */
  available(): Promise<string | null>;
  create(tag: string): Promise<Instance>;
}
