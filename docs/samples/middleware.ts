import {
  type Middleware,
  type MiddlewareAfterCall,
  type MiddlewareBeforeCall,
  QueueTasks,
} from "@qtasks/core";

const app = new QueueTasks();

// A plain function: before the handler, may replace the arguments.
function trimStrings(call: MiddlewareBeforeCall): void {
  call.args = call.args.map((a) => (typeof a === "string" ? a.trim() : a));
}

// After the handler, may replace the result that is stored.
function redactEmail(call: MiddlewareAfterCall): void {
  const result = call.result as { email?: string };
  if (result?.email) call.result = { ...result, email: "***" };
}

// A Middleware object; `before` may stop the run: the task ends success with `result`.
const cache = new Map<string, unknown>();
const cached: Middleware = {
  name: "cache",
  before(call) {
    const key = `${call.taskName}:${JSON.stringify(call.args)}`;
    if (cache.has(key)) return { stop: true, result: cache.get(key) };
  },
  after(call) {
    cache.set(`${call.taskName}:${JSON.stringify(call.args)}`, call.result);
  },
};

export const lookup = app.task(
  { name: "lookup_user", middlewaresBefore: [trimStrings], middlewaresAfter: [redactEmail] },
  async (login: string) => ({ login, email: `${login}@example.com` }),
);

// App-wide: its before runs before every task's own, its after after them.
app.addMiddleware(cached);
