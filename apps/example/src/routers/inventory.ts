import { AsyncRouter } from "@qtasks/router";
import { UnknownSkuError, WarehouseBusyError } from "../errors";
import { normalizeSku, stampResult } from "../middleware";

/** Inventory tasks live in their own module, in a router that the app includes. */
export const inventory = new AsyncRouter({ name: "inventory" });

// The warehouse API in this demo is busy on the first call for each SKU (a worker-process global:
// attempts run in the worker).
const busyOnce = new Set<string>();

/**
 * Retried up to 3 times, but only for `WarehouseBusyError` (and subclasses): `UnknownSkuError`
 * ends the task at once. Each retry is a new linked record; waiting on the first uuid follows them.
 * Middleware: the SKU is normalised before the handler runs, and the result stamped after.
 */
export const reserveStock = inventory.task(
  {
    name: "reserve_stock",
    retry: 3,
    retryOnExc: [WarehouseBusyError],
    retryBackoff: { type: "fixed", delay: 0.2 },
    tags: ["inventory"],
    middlewaresBefore: [normalizeSku],
    middlewaresAfter: [stampResult],
  },
  async (sku: string, quantity: number) => {
    if (sku.startsWith("NOPE")) throw new UnknownSkuError(`no such SKU ${sku}`);
    if (!busyOnce.has(sku)) {
      busyOnce.add(sku);
      throw new WarehouseBusyError(`warehouse busy reserving ${sku}`);
    }
    return { sku, quantity, bin: `B-${sku.length}${quantity}` };
  },
);

/**
 * A generator task: every yielded value goes through `generateHandler`, whose output is streamed to
 * clients while the task runs and sent back into the generator as the value of `yield`.
 */
export const packOrder = inventory.task(
  {
    name: "pack_order",
    generateHandler: async (item: unknown) => `packed ${String(item)}`,
  },
  async function* (items: string[]): AsyncGenerator<string, { boxes: number; log: string[] }, string> {
    const log: string[] = [];
    for (const item of items) {
      await new Promise((r) => setTimeout(r, 150)); // packing takes a while
      log.push(yield item); // `yield` returns generateHandler's output
    }
    return { boxes: Math.ceil(items.length / 2), log };
  },
);
