import type { TaskRecord } from "@qtasks/core";
import type { JournalEvent } from "./journal";

/** The figures every scenario reports. */
export interface Accounting {
  attempted: number;
  acknowledged: number;
  executions: number;
  /** Acknowledged enqueues whose task has no final record. Must be 0. */
  lost: number;
  /** Executions of tasks that were never attempted. Must be 0. */
  unexpected: number;
  /** Tasks not final after the recovery deadline (same as lost, at the end). */
  stuck: number;
  /** Executions beyond the first, over all tasks. */
  duplicates: number;
  /** Tasks with at least two executions that overlapped in time. */
  overlaps: number;
  /** Ids of lost tasks (first 20), for the failure message. */
  lostIds: string[];
}

/**
 * Accounts for every task from the journals and the final records (keyed by the harness id).
 * `finalById` maps a harness id to the record that ends its chain (following retries).
 */
export function account(events: JournalEvent[], finalById: Map<string, TaskRecord | null>): Accounting {
  const attempted = new Set<string>();
  const acked = new Set<string>();
  const runs = new Map<string, { start: number; end?: number; pid: number; attempt: number }[]>();
  const open = new Map<string, { start: number; end?: number; pid: number; attempt: number }>();
  for (const ev of events) {
    if (ev.e === "attempt") attempted.add(ev.id);
    else if (ev.e === "acked") acked.add(ev.id);
    else if (ev.e === "start") {
      const run = { start: ev.ts, pid: ev.pid, attempt: ev.attempt };
      let list = runs.get(ev.id);
      if (!list) {
        list = [];
        runs.set(ev.id, list);
      }
      list.push(run);
      open.set(`${ev.id}:${ev.pid}:${ev.attempt}:${ev.uuid}`, run);
    } else if (ev.e === "end") {
      const run = open.get(`${ev.id}:${ev.pid}:${ev.attempt}:${ev.uuid}`);
      if (run) run.end = ev.ts;
    }
  }
  let executions = 0;
  let duplicates = 0;
  let overlaps = 0;
  let unexpected = 0;
  for (const [id, list] of runs) {
    executions += list.length;
    duplicates += list.length - 1;
    if (!attempted.has(id)) unexpected += list.length;
    const sorted = [...list].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      // A run that never ended (its process was killed) overlaps nothing after the kill; only
      // runs with a known end are compared.
      if (prev.end !== undefined && sorted[i]!.start < prev.end) {
        overlaps++;
        break;
      }
    }
  }
  const lostIds: string[] = [];
  for (const id of acked) {
    const rec = finalById.get(id);
    if (!rec || !["success", "error", "cancel"].includes(rec.status)) lostIds.push(id);
  }
  return {
    attempted: attempted.size,
    acknowledged: acked.size,
    executions,
    lost: lostIds.length,
    unexpected,
    stuck: lostIds.length,
    duplicates,
    overlaps,
    lostIds: lostIds.slice(0, 20),
  };
}
