import type { BeginResult, FinalOutcome, NewTaskRecord } from "@qtasks/core";
import type { Redis } from "ioredis";

/**
 * The key under which `RedisStorage` (`@qtasks/storage-redis`) offers its fusion surface. Read by
 * this well-known name so that neither package imports the other; `.v1` is the protocol version.
 */
export const STORAGE_FUSION = Symbol.for("qtasks.redis-storage.fusion.v1");

interface ScriptCall {
  keys: string[];
  args: (string | number)[];
}

/**
 * What the broker expects of a storage's fusion surface (`RedisStorageFusion` in
 * `@qtasks/storage-redis`, which owns its meaning; a test of this package checks the two agree).
 */
export interface StorageFusion {
  readonly client: Redis;
  readonly prefix: string;
  readonly scripts: { add: string; beginMany: string; finishMany: string };
  addCall(records: NewTaskRecord[]): ScriptCall;
  beginHead(): ScriptCall & { taskPrefix: string };
  finishCall(items: { uuid: string; attempt: number; outcome: FinalOutcome }[]): ScriptCall;
  decodeBegin(uuid: string, reply: unknown): BeginResult | undefined;
}

/** The storage's fusion surface, if it has one (a started `RedisStorage`). */
export function storageFusionOf(storage: unknown): StorageFusion | undefined {
  const offer = (storage as Record<symbol, unknown> | null)?.[STORAGE_FUSION];
  if (typeof offer !== "function") return undefined;
  try {
    return (offer as () => StorageFusion).call(storage);
  } catch {
    // Not started, say: no fusion, the separate calls still work (or fail with their own error).
    return undefined;
  }
}

/** The Redis Cluster hash tag of a key or prefix (what `{...}` holds), as Redis reads it. */
export function hashTagOf(s: string): string | undefined {
  const open = s.indexOf("{");
  if (open === -1) return undefined;
  const close = s.indexOf("}", open + 1);
  return close > open + 1 ? s.slice(open + 1, close) : undefined;
}

function hostOf(host: string | undefined): string {
  return !host || host === "localhost" ? "127.0.0.1" : host;
}

/** Whether two standalone clients talk to the same server and database. */
export function sameEndpoint(a: Redis, b: Redis): boolean {
  if (a === b) return true;
  const x = a.options;
  const y = b.options;
  if (x.path || y.path) return x.path === y.path && (x.db ?? 0) === (y.db ?? 0);
  return (
    hostOf(x.host) === hostOf(y.host) &&
    (x.port ?? 6379) === (y.port ?? 6379) &&
    (x.db ?? 0) === (y.db ?? 0) &&
    (x.username ?? "") === (y.username ?? "")
  );
}

/** A script reply read as buffers, with every buffer turned into a string (for the storage's decoders). */
export function plainReply(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  if (Array.isArray(value)) return value.map(plainReply);
  return value;
}
