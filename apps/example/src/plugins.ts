import type { Plugin } from "@qtasks/core";

/**
 * Plugins hook into fixed points of the app. This one:
 * - `onEnqueue`: bumps the priority of any task enqueued with `extra.vip`;
 * - `onPluginError`: turns a declined card (raised with `ctx.pluginError`) into a "manual review"
 *   success instead of an error;
 * - `onTaskFinish`: counts finished runs by status.
 */
export function ordersPlugin(): Plugin & { finished: Record<string, number> } {
  const finished: Record<string, number> = {};
  return {
    name: "orders",
    finished,
    onEnqueue(input) {
      if (input.extra.vip === true) return { priority: Math.min(100, input.priority + 50) };
    },
    onPluginError(error) {
      const data = error.data as { reason?: string } | undefined;
      if (data?.reason === "card-declined")
        return { status: "success", returning: { charged: false, review: "manual", note: error.message } };
    },
    onTaskFinish({ record }) {
      finished[record.status] = (finished[record.status] ?? 0) + 1;
    },
  };
}
