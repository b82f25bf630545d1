import { Api, validUuid } from "./api";
import { Assets } from "./assets";
import { BASE_HEADERS, errorResponse, HttpError } from "./http";
import { type DashboardOptions, resolveOptions } from "./options";
import { taskEventStream } from "./stream";

/** A dashboard: a Fetch-API handler (`Request -> Response`) for any server that speaks it. */
export interface Dashboard {
  /** Answers one request. Never rejects: failures become JSON error answers. */
  fetch(request: Request): Promise<Response>;
  /** The `basePath` it was created with (normalised, no trailing slash). */
  readonly basePath: string;
}

const ASSET_ROUTES: Record<string, string> = {
  "/": "index.html",
  "/assets/app.js": "app.js",
  "/assets/style.css": "style.css",
  "/favicon.svg": "favicon.svg",
};

/**
 * Creates the dashboard of `options.app`. Mount it anywhere a `Request -> Response` function fits
 * (Hono, Bun, Deno, workers), or in Node's http, Express and Fastify through `toNodeHandler`.
 * Read-only unless `authorize` allows actions (see `DashboardOptions`).
 */
export function createDashboard(options: DashboardOptions): Dashboard {
  const resolved = resolveOptions(options);
  const assets = new Assets();
  const api = new Api(resolved);
  const { app, basePath } = resolved;

  const handle = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (!url.pathname.startsWith(basePath)) return errorResponse(404, "not_found", "not found");
    const path = url.pathname.slice(basePath.length);
    // The page uses relative URLs, so it must be served from a path ending in "/".
    if (path === "") return redirect(`${basePath}/${url.search}`);
    if (!path.startsWith("/")) return errorResponse(404, "not_found", "not found");

    const isRead = request.method === "GET" || request.method === "HEAD";
    const asset = ASSET_ROUTES[path];
    if (asset) {
      if (!isRead) return errorResponse(405, "method", "method not allowed");
      return assets.serve(asset, request);
    }
    if (!path.startsWith("/api/")) return errorResponse(404, "not_found", "not found");
    const parts = path.slice("/api/".length).split("/").map(decodeURIComponent);

    await app.connect();
    const [head, id, verb] = parts;
    if (isRead) {
      if (parts.length === 1 && head === "meta") return api.meta(request);
      if (parts.length === 1 && head === "overview") return api.overview();
      if (parts.length === 1 && head === "tasks") return api.tasks(url);
      if (parts.length === 2 && head === "tasks") return api.task(validUuid(id!));
      if (parts.length === 3 && head === "tasks" && verb === "stream")
        return taskEventStream(app.storage, validUuid(id!), request, resolved.keepAliveMs);
      if (parts.length === 1 && head === "dead-letters") return api.deadLetters(url);
    }
    // Action routes answer every method, so a GET is refused with 405 rather than 404.
    if (parts.length === 3 && head === "tasks" && verb === "cancel")
      return api.cancel(request, validUuid(id!));
    if (parts.length === 3 && head === "tasks" && verb === "retry") return api.retry(request, validUuid(id!));
    if (parts.length === 2 && head === "dead-letters" && id === "redrive") return api.redrive(request);
    return errorResponse(404, "not_found", "no such endpoint");
  };

  return {
    basePath,
    async fetch(request: Request): Promise<Response> {
      try {
        return await handle(request);
      } catch (error) {
        if (error instanceof HttpError) return errorResponse(error.status, error.code, error.message);
        if (error instanceof URIError) return errorResponse(400, "bad_path", "malformed path");
        app.logger.error("dashboard request failed", { path: safePath(request), error });
        // The message may name internals (hosts, keys): the operator finds it in the log.
        return errorResponse(500, "internal", "the dashboard could not answer; see the server log");
      }
    },
  };
}

function redirect(location: string): Response {
  return new Response(null, { status: 308, headers: { ...BASE_HEADERS, location } });
}

function safePath(request: Request): string {
  try {
    return new URL(request.url).pathname;
  } catch {
    return "?";
  }
}
