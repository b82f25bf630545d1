import type { Storage, TaskRecord } from "@qtasks/core";

/** One minute of the overview chart. `t` is the minute's start (ms since the epoch). */
export interface ThroughputBucket {
  t: number;
  success: number;
  error: number;
}

export interface Throughput {
  bucketSeconds: number;
  buckets: ThroughputBucket[];
  success: number;
  error: number;
  /** error / (success + error) over the hour, or null when nothing finished. */
  failureRate: number | null;
  /**
   * True when a status had more records in the hour than the sample read: the counts are then a
   * lower bound (the chart reads at most `sample` newest records per final status, never a scan).
   */
  truncated: boolean;
}

const HOUR_MS = 3600_000;
const BUCKET_MS = 60_000;

/**
 * Finished tasks per minute over the last hour, from the newest `sample` records of each final
 * status (`success`, `error`) that the storage lists. Storage has no time-series of its own, so this
 * reads records through the listing indexes and buckets their `finishedAt`.
 */
export async function throughput(storage: Storage, sample: number, now = Date.now()): Promise<Throughput> {
  const start = Math.floor((now - HOUR_MS) / BUCKET_MS) * BUCKET_MS + BUCKET_MS;
  const buckets: ThroughputBucket[] = [];
  for (let t = start - BUCKET_MS; t <= now; t += BUCKET_MS) buckets.push({ t, success: 0, error: 0 });
  const first = buckets[0]!.t;
  let truncated = false;
  const read = async (status: "success" | "error") => {
    if (sample === 0) return [] as TaskRecord[];
    const records = await storage.list({ status, limit: sample });
    const oldest = records.at(-1);
    // A full sample whose oldest record still finished inside the window may have missed others.
    if (records.length === sample && oldest && finishedMs(oldest) >= first) truncated = true;
    return records;
  };
  const [ok, failed] = await Promise.all([read("success"), read("error")]);
  let success = 0;
  let error = 0;
  const add = (records: TaskRecord[], key: "success" | "error") => {
    for (const r of records) {
      const at = finishedMs(r);
      if (at < first || at > now + BUCKET_MS) continue;
      const i = Math.min(buckets.length - 1, Math.floor((at - first) / BUCKET_MS));
      buckets[i]![key]++;
      if (key === "success") success++;
      else error++;
    }
  };
  add(ok, "success");
  add(failed, "error");
  return {
    bucketSeconds: BUCKET_MS / 1000,
    buckets,
    success,
    error,
    failureRate: success + error === 0 ? null : error / (success + error),
    truncated,
  };
}

function finishedMs(r: TaskRecord): number {
  return +new Date(r.finishedAt ?? r.updatedAt);
}
