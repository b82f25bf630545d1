import { createHash, randomUUID } from "node:crypto";

/** A random (v4) task uuid. */
export function newUuid(): string {
  return randomUUID();
}

/**
 * The uuid of the n-th retry of a task, derived from the first uuid (a v5-style name-based uuid), so
 * that re-publishing the same retry after a crash is idempotent: same uuid, same record.
 */
export function retryUuid(rootUuid: string, retries: number): string {
  const h = createHash("sha1").update(`qtasks:retry:${rootUuid}:${retries}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
