import type { BeginResult, FinalOutcome, NewTaskRecord } from "@qtasks/core";
import type { Redis } from "ioredis";
import { createdAtArg, decodeRecord, newRecordFields, outcomeFields, pairsToMap } from "./codec";
import type { StorageKeys } from "./keys";

/**
 * The well-known key under which `RedisStorage` offers its fusion surface. A `Symbol.for` key, so
 * that `@qtasks/broker-redis` finds it without importing this package (neither depends on the other).
 */
export const REDIS_STORAGE_FUSION: unique symbol = Symbol.for("qtasks.redis-storage.fusion.v1");

/** KEYS and ARGV of one script call. */
export interface ScriptCall {
  keys: string[];
  args: (string | number)[];
}

/**
 * What `RedisStorage` hands a Redis broker on the same Redis so that the broker can run the storage's
 * own scripts inside its scripts (enqueue = add + publish, claim + begin, finish + ack: one round
 * trip and one atomic step each). The storage's scripts are used as they are: the broker wraps each
 * as a Lua function of (KEYS, ARGV). An internal protocol between the two packages, versioned by the
 * symbol's name; the storage owns everything in it, the broker only reads it.
 */
export interface RedisStorageFusion {
  /** The storage's command connection: for comparing endpoints only (the broker sends on its own). */
  readonly client: Redis;
  /** The key prefix, with its hash tag (fusion needs the broker's tag to be the same). */
  readonly prefix: string;
  /** The storage's scripts, as in `scripts.ts` (their KEYS and ARGV layouts are documented there). */
  readonly scripts: { add: string; beginMany: string; finishMany: string };
  /** The `add` call for these records. Encodes first: throws before any I/O on what cannot be stored. */
  addCall(records: NewTaskRecord[]): ScriptCall;
  /** The fixed head of a `beginMany` call; item keys are `taskPrefix + uuid`, item args `uuid, 0`. */
  beginHead(): ScriptCall & { taskPrefix: string };
  /** The `finishMany` call for these items, in order. */
  finishCall(items: { uuid: string; attempt: number; outcome: FinalOutcome }[]): ScriptCall;
  /** One `beginMany` item reply: the `begin` answer, or `undefined` when there is no record. */
  decodeBegin(uuid: string, reply: unknown): BeginResult | undefined;
}

/** The `add` script's call: KEYS seq, idx:all, idx:new, then a task hash per record. */
export function addCall(k: StorageKeys, records: NewTaskRecord[]): ScriptCall {
  const encoded = records.map((r) => ({
    uuid: r.uuid,
    createdAt: createdAtArg(r.createdAt),
    fields: newRecordFields(r),
  }));
  const keys = [k.seq, k.all, k.status("new")];
  const args: (string | number)[] = [];
  for (const r of encoded) {
    keys.push(k.task(r.uuid));
    args.push(r.uuid, r.createdAt, r.fields.length);
    for (const f of r.fields) args.push(f);
  }
  return { keys, args };
}

/** KEYS and ARGV that start every `beginMany` call. */
export function beginHead(k: StorageKeys): ScriptCall {
  return { keys: [k.seq, k.all, k.status("new"), k.status("process")], args: [k.channel("")] };
}

/** KEYS and ARGV that start every `finishMany` call. */
export function finishHead(k: StorageKeys, retentionMs: number): ScriptCall {
  return {
    keys: [
      k.finished,
      k.status("new"),
      k.status("process"),
      k.status("success"),
      k.status("error"),
      k.status("cancel"),
      k.status("retry"),
    ],
    args: [k.channel(""), retentionMs],
  };
}

/** One `finishMany` item. The outputs list is only touched (PEXPIRE) with retention. */
export function finishItem(
  k: StorageKeys,
  retentionMs: number,
  uuid: string,
  attempt: number,
  outcome: FinalOutcome,
): ScriptCall {
  const fields = outcomeFields(outcome);
  return {
    keys: retentionMs > 0 ? [k.task(uuid), k.outputs(uuid)] : [k.task(uuid)],
    args: [uuid, String(attempt), outcome.status, fields.length, ...fields],
  };
}

/**
 * A `beginMany` item reply as `begin` answers it: `{2, fields}` final, `{1, attempt, now, createdAt,
 * d, cancelReason}` started; `0` (no record) is `undefined`.
 */
export function decodeBegin(uuid: string, reply: unknown): BeginResult | undefined {
  if (reply === 0) return undefined;
  const r = reply as [number, ...unknown[]];
  if (r[0] === 2) return { kind: "final", record: decodeRecord(uuid, pairsToMap(r[1] as string[]))! };
  const [, attempt, now, createdAt, d, cancelReason] = r as [
    number,
    number,
    number,
    string,
    string,
    string | null,
  ];
  const fields = new Map<string, string>([
    ["status", "process"],
    ["attempt", String(attempt)],
    ["createdAt", createdAt],
    ["updatedAt", String(now)],
    ["startedAt", String(now)],
    ["d", d],
  ]);
  if (cancelReason != null) fields.set("cancelReason", cancelReason);
  const record = decodeRecord(uuid, fields)!;
  return { kind: "started", attempt: record.attempt, record };
}
