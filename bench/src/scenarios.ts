import { cpuMark, cpuSince } from "./cpu";
import { chunks, sleep, withTimeout } from "./env";
import { percentile } from "./stats";
import type { Instance, ScenarioId, Subject } from "./types";

export interface Settings {
  n: number;
  latencyN: number;
  latencyRate: number;
  latencyConcurrency: number;
  bulkChunk: number;
  timeoutMs: number;
}

export interface Check {
  /** No task ran twice, and (unless the run timed out) every task ran once and is final. */
  ok: boolean;
  /** Every task ran and reached its final state before the timeout. */
  complete: boolean;
  /** Tasks whose handler ran exactly once / more than once / never. */
  once: number;
  twice: number;
  never: number;
  /** Tasks in their final state, as the service reports them. */
  final: number;
  states: Record<string, number>;
}

export interface RunResult {
  subject: string;
  scenario: ScenarioId;
  run: number;
  n: number;
  /** Tasks done (enqueued, or run to their final state) when the clock stopped. */
  done: number;
  seconds: number;
  /** Tasks per second (done / seconds). */
  rate: number;
  timedOut: boolean;
  latencyMs?: { p50: number; p95: number; p99: number; max: number };
  check?: Check;
  cpu: { nodePct: number; servicePct: number | null };
  error?: string;
}

/** Counts handler starts per task and wakes the waiter when every task has started. */
class Tracker {
  readonly counts: Uint8Array;
  readonly startedAt: Float64Array;
  started = 0;
  private wake: (() => void) | undefined;
  constructor(readonly n: number) {
    this.counts = new Uint8Array(n);
    this.startedAt = new Float64Array(n);
  }
  onRun = (i: number) => {
    if (!(i >= 0 && i < this.n)) return;
    if (this.counts[i]! < 255) this.counts[i]!++;
    if (this.counts[i] === 1) {
      this.startedAt[i] = performance.now();
      this.started++;
      if (this.started === this.n) this.wake?.();
    }
  };
  async waitAll(deadline: number): Promise<boolean> {
    if (this.started >= this.n) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await Promise.race([new Promise<void>((r) => (this.wake = r)), sleep(left)]);
    return this.started >= this.n;
  }
}

/** Polls the service until `n` tasks are final or the deadline passes; returns the last count. */
async function waitFinal(inst: Instance, n: number, deadline: number): Promise<number> {
  let final = 0;
  for (;;) {
    final = await inst.finalCount();
    if (final >= n || performance.now() >= deadline) return final;
    await sleep(20);
  }
}

async function check(inst: Instance, tracker: Tracker, timedOut: boolean): Promise<Check> {
  let once = 0;
  let twice = 0;
  let never = 0;
  for (const c of tracker.counts) {
    if (c === 1) once++;
    else if (c === 0) never++;
    else twice++;
  }
  const [final, states] = await Promise.all([inst.finalCount(), inst.states()]);
  const complete = once + twice === tracker.n && final === tracker.n;
  return { ok: twice === 0 && (complete || timedOut), complete, once, twice, never, final, states };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export async function runScenario(
  subject: Subject,
  scenario: ScenarioId,
  settings: Settings,
  tag: string,
  run: number,
): Promise<RunResult> {
  const n = scenario === "latency" ? settings.latencyN : settings.n;
  const base: RunResult = {
    subject: subject.id,
    scenario,
    run,
    n,
    done: 0,
    seconds: 0,
    rate: 0,
    timedOut: false,
    cpu: { nodePct: 0, servicePct: null },
  };
  let inst: Instance | undefined;
  try {
    inst = await withTimeout(subject.create(tag), 30_000, `${subject.id} setup`);
    return await measure(subject, scenario, settings, inst, n, base);
  } catch (e) {
    return { ...base, error: (e as Error).message };
  } finally {
    if (inst) await withTimeout(inst.close(), 30_000, `${subject.id} cleanup`).catch(() => {});
  }
}

async function measure(
  subject: Subject,
  scenario: ScenarioId,
  settings: Settings,
  inst: Instance,
  n: number,
  base: RunResult,
): Promise<RunResult> {
  const services = subject.services;
  const finish = (start: number, mark: ReturnType<typeof cpuMark>, done: number, timedOut: boolean) => {
    const seconds = (performance.now() - start) / 1000;
    return { ...base, done, seconds, rate: done / seconds, timedOut, cpu: cpuSince(mark, services) };
  };

  if (scenario === "enqueue-single") {
    const mark = cpuMark(services);
    const start = performance.now();
    const deadline = start + settings.timeoutMs;
    let i = 0;
    for (; i < n; i++) {
      await inst.add(i);
      if ((i & 63) === 0 && performance.now() > deadline) break;
    }
    return finish(start, mark, i === n ? n : i + 1, i < n);
  }

  if (scenario === "enqueue-bulk") {
    const mark = cpuMark(services);
    const start = performance.now();
    const deadline = start + settings.timeoutMs;
    let done = 0;
    for (const chunk of chunks(range(n), settings.bulkChunk)) {
      await inst.addBulk(chunk);
      done += chunk.length;
      if (performance.now() > deadline) break;
    }
    return finish(start, mark, done, done < n);
  }

  if (scenario === "drain-c1" || scenario === "drain-c50") {
    const concurrency = scenario === "drain-c1" ? 1 : 50;
    const fillDeadline = performance.now() + settings.timeoutMs;
    for (const chunk of chunks(range(n), settings.bulkChunk)) {
      await inst.addBulk(chunk);
      if (performance.now() > fillDeadline) throw new Error("pre-filling the queue timed out");
    }
    const tracker = new Tracker(n);
    const mark = cpuMark(services);
    const start = performance.now();
    const deadline = start + settings.timeoutMs;
    await inst.startWorker(concurrency, tracker.onRun);
    const all = await tracker.waitAll(deadline);
    const final = all ? await waitFinal(inst, n, deadline) : await inst.finalCount();
    const result = finish(start, mark, final, final < n);
    // Late duplicates (a redelivery) would show up now.
    await sleep(200);
    return { ...result, check: await check(inst, tracker, result.timedOut) };
  }

  // latency: a steady `latencyRate` tasks/s into a running worker; enqueue call to handler start.
  const tracker = new Tracker(n);
  await inst.startWorker(settings.latencyConcurrency, tracker.onRun);
  await sleep(200);
  const sentAt = new Float64Array(n);
  const interval = 1000 / settings.latencyRate;
  const errors: unknown[] = [];
  const mark = cpuMark(services);
  const start = performance.now();
  const deadline = start + settings.timeoutMs;
  let sent = 0;
  while (sent < n && performance.now() < deadline) {
    const due = Math.min(n, Math.floor((performance.now() - start) / interval) + 1);
    while (sent < due) {
      const i = sent++;
      sentAt[i] = performance.now();
      inst.add(i).catch((e) => errors.push(e));
    }
    await sleep(1);
  }
  const all = await tracker.waitAll(deadline);
  const final = all ? await waitFinal(inst, n, deadline) : await inst.finalCount();
  const result = finish(start, mark, final, final < n);
  if (errors.length) throw new Error(`${errors.length} enqueues failed: ${String(errors[0])}`);
  const lat: number[] = [];
  for (let i = 0; i < n; i++) if (tracker.counts[i]) lat.push(tracker.startedAt[i]! - sentAt[i]!);
  lat.sort((a, b) => a - b);
  await sleep(200);
  return {
    ...result,
    latencyMs: {
      p50: percentile(lat, 50),
      p95: percentile(lat, 95),
      p99: percentile(lat, 99),
      max: lat[lat.length - 1] ?? Number.NaN,
    },
    check: await check(inst, tracker, result.timedOut),
  };
}
