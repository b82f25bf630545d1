import type { Broker, Delivery } from "@qtasks/core";

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A random suffix for names that must not collide between tests. */
export function randomId(): string {
  return Math.random().toString(36).slice(2, 10);
}

/**
 * Claims until `n` deliveries arrived or `timeoutMs` passed, in as many calls as the broker needs
 * (a broker may hand out fewer than `max` per call). Order is kept.
 */
export async function claimN(broker: Broker, n: number, timeoutMs = 5000, max = n): Promise<Delivery[]> {
  const out: Delivery[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const got = await broker.claim(Math.min(max, n - out.length), {
      waitSeconds: Math.min(left, 1000) / 1000,
    });
    out.push(...got);
  }
  return out;
}

/** Retries `check` (which throws while the condition does not hold) until it passes or time runs out. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 5000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await sleep(intervalMs);
    }
  }
}

/** Runs teardown steps in reverse order of registration, all of them even when some fail. */
export class Teardown {
  private steps: (() => Promise<void>)[] = [];

  add(step: () => Promise<void>): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    const steps = this.steps.reverse();
    this.steps = [];
    const errors: unknown[] = [];
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, "several teardown steps failed");
  }
}
