/** The abort state of a run, readable without creating an `AbortSignal` (see `LazyAbortController`). */
export interface AbortHook {
  readonly aborted: boolean;
  /** Why it was aborted (the value given to `abort`, or an `AbortError` when none was). */
  readonly reason: unknown;
  /** Calls `listener` once when the run is aborted; returns a function that removes it. */
  onAbort(listener: () => void): () => void;
}

/**
 * An `AbortController` created on first use of `signal`. Most runs are never aborted and never read
 * their signal, and an `AbortSignal` (an EventTarget) per run was a measurable share of a short
 * task's CPU and garbage. `onAbort` listens without creating it; `abort` before or after the signal
 * exists aborts it alike.
 */
export class LazyAbortController implements AbortHook {
  private controller: AbortController | undefined;
  private listeners: (() => void)[] | undefined;
  private abortedWith: { reason: unknown } | undefined;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortedWith) this.controller.abort(this.abortedWith.reason);
    }
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.abortedWith !== undefined;
  }

  get reason(): unknown {
    return this.abortedWith?.reason;
  }

  abort(reason?: unknown): void {
    if (this.abortedWith) return;
    // What AbortController.abort() uses when given no reason.
    this.abortedWith = {
      reason: reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason,
    };
    this.controller?.abort(this.abortedWith.reason);
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const l of listeners) l();
  }

  onAbort(listener: () => void): () => void {
    if (this.abortedWith) {
      listener();
      return () => {};
    }
    this.listeners ??= [];
    this.listeners.push(listener);
    return () => {
      const i = this.listeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.listeners!.splice(i, 1);
    };
  }
}
