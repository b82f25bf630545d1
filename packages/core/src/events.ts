import type { TaskRecord } from "./contracts/record";

/** The typed events of an app (`app.events.on("task:success", ...)`). */
export interface QueueTasksEvents {
  "task:enqueue": { uuid: string; taskName: string; priority: number; delay: number };
  "task:start": { uuid: string; taskName: string; attempt: number; retries: number };
  "task:success": { uuid: string; taskName: string; record: TaskRecord; durationMs: number };
  "task:error": { uuid: string; taskName: string; record: TaskRecord; error: unknown; durationMs: number };
  "task:retry": { uuid: string; taskName: string; retryUuid: string; delay: number; error: unknown };
  "task:cancel": { uuid: string; taskName: string; reason: string };
  "task:dead-letter": { uuid?: string; taskName?: string; reason: string };
  /** A final write refused because a newer attempt owns the record. */
  "task:stale": { uuid: string; taskName: string; attempt: number };
  "worker:start": { workerId: string; concurrency: number };
  "worker:stop": { workerId: string; released: number };
  "plugin:error": { plugin: string; hook: string; error: unknown };
}

type Listener<T> = (payload: T) => void;

/**
 * A small typed event emitter. Listener errors are caught and reported to `onListenerError` so that
 * a monitoring bug never breaks task processing.
 */
export class TypedEmitter<E extends object> {
  private readonly listeners = new Map<keyof E, Set<Listener<never>>>();

  constructor(private readonly onListenerError: (event: keyof E, error: unknown) => void = () => {}) {}

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, (p) => {
      off();
      listener(p);
    });
    return off;
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Whether anyone listens (lets hot paths skip building payloads). */
  has(event: keyof E): boolean {
    return (this.listeners.get(event)?.size ?? 0) > 0;
  }

  emit<K extends keyof E>(event: K, payload: E[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const l of [...set]) {
      try {
        (l as Listener<E[K]>)(payload);
      } catch (error) {
        this.onListenerError(event, error);
      }
    }
  }
}
