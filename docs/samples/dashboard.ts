import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { QueueTasks } from "@qtasks/core";
import { createDashboard, type NodeHandler, toNodeHandler } from "@qtasks/dashboard";

const app = new QueueTasks({ name: "shop" });

// #region node
// Read-only: no authorize hook, so cancel, retry and re-drive answer 403.
const dashboard = createDashboard({ app });
createServer(toNodeHandler(dashboard)).listen(3000, "127.0.0.1");
// #endregion node

// #region authorize
const admin = createDashboard({
  app,
  basePath: "/admin/queues",
  // Called for every action request (after the same-origin check) and by the page to decide which
  // buttons to show. Return true only for users who may change the queue.
  authorize: (request, action) => {
    const user = request.headers.get("x-user-role"); // set by your auth proxy or middleware
    return user === "ops" || (user === "support" && action === "retry");
  },
});
// #endregion authorize

// #region fetch
// Any Fetch-API server (Hono, Bun, Deno, workers): the dashboard is `Request -> Response`.
export default { fetch: (request: Request) => admin.fetch(request) };
// Hono: app.all("/admin/queues/*", (c) => admin.fetch(c.req.raw)); app.all("/admin/queues", ...)
// #endregion fetch

// #region express
// Express: mount under the same path as basePath (the adapter reads req.originalUrl).
export function mountExpress(server: { use(path: string, handler: NodeHandler): void }) {
  server.use("/admin/queues", toNodeHandler(admin));
}
// #endregion express

// #region fastify
// Fastify: hand the raw request and response to the adapter.
type FastifyLike = {
  all(
    path: string,
    handler: (req: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }) => void,
  ): void;
};
export function mountFastify(server: FastifyLike) {
  const node = toNodeHandler(admin);
  const handler = (req: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }) => {
    reply.hijack();
    node(req.raw, reply.raw);
  };
  server.all("/admin/queues", handler);
  server.all("/admin/queues/*", handler);
}
// #endregion fastify
