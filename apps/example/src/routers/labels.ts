import { SyncRouter } from "@qtasks/router";

/**
 * A `SyncRouter` (QTasks parity): its tasks have synchronous handlers. Enqueueing is still async.
 * The counter shows the order in which the worker started them: highest priority first.
 */
export const labels = new SyncRouter({ name: "labels" });

let printed = 0;

export const printLabel = labels.task({ name: "print_label" }, (label: string) => {
  printed += 1;
  return { label, position: printed };
});
