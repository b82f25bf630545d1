import type { Middleware, MiddlewareAfterCall, MiddlewareBeforeCall } from "@qtasks/core";

/** Before-middleware (a plain function): normalises the SKU argument before the handler sees it. */
export function normalizeSku(call: MiddlewareBeforeCall): void {
  const [sku, ...rest] = call.args;
  if (typeof sku === "string") call.args = [sku.trim().toUpperCase(), ...rest];
}

/** After-middleware: stamps the stored result. */
export function stampResult(call: MiddlewareAfterCall): void {
  if (call.result && typeof call.result === "object")
    call.result = { ...call.result, checkedBy: `${call.taskName} middleware` };
}

/**
 * App-wide middleware (`app.addMiddleware`): its `before` runs before every task's own, its `after`
 * after them. Here: refuse orders for a blocked customer without running the handler.
 */
export const blockList: Middleware = {
  name: "block-list",
  before(call) {
    const [first] = call.args;
    if (first && typeof first === "object" && (first as { customer?: string }).customer === "mallory")
      return { stop: true, result: { refused: "customer is blocked" } };
  },
};
