import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";

/** Anything with a Fetch-API `fetch`, or the function itself. */
export type FetchHandler =
  | ((request: Request) => Promise<Response>)
  | { fetch(request: Request): Promise<Response> };

/** Node's `(req, res)`, with Express' optional `next` (errors go there when given). */
export type NodeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

export interface NodeHandlerOptions {
  /** Largest request body read, in bytes. Default 64 KiB (action bodies are a few bytes). */
  maxBodyBytes?: number;
}

/**
 * Adapts a Fetch handler to Node's `http` request listener, also usable as Express middleware
 * (`app.use("/dash", toNodeHandler(dashboard))`) and from Fastify (`reply.hijack()`, then call it
 * with `request.raw, reply.raw`). The request URL is built from `Host` and Express' `originalUrl`
 * (else `req.url`), so a dashboard mounted at `/dash` is created with `basePath: "/dash"`.
 *
 * Streams (server-sent events) are written chunk by chunk; when the client goes away the response
 * body is cancelled and `request.signal` aborts, so the handler can let go of its subscriptions.
 */
export function toNodeHandler(handler: FetchHandler, options: NodeHandlerOptions = {}): NodeHandler {
  const fetchFn = typeof handler === "function" ? handler : handler.fetch.bind(handler);
  const maxBody = options.maxBodyBytes ?? 64 * 1024;
  return (req, res, next) => {
    serve(fetchFn, req, res, maxBody).catch((error: unknown) => {
      if (next) return next(error);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader("content-type", "text/plain; charset=utf-8");
      }
      res.end("internal error");
    });
  };
}

async function serve(
  fetchFn: (request: Request) => Promise<Response>,
  req: IncomingMessage,
  res: ServerResponse,
  maxBody: number,
): Promise<void> {
  const abort = new AbortController();
  res.on("close", () => abort.abort());
  const request = await toRequest(req, abort.signal, maxBody);
  if (!request) {
    res.statusCode = 413;
    res.end("request body too large");
    return;
  }
  const response = await fetchFn(request);
  res.statusCode = response.status;
  for (const [name, value] of response.headers) {
    if (name === "set-cookie") continue;
    res.setHeader(name, value);
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);
  if (!response.body || req.method === "HEAD") {
    await response.body?.cancel();
    res.end();
    return;
  }
  res.flushHeaders();
  const reader = response.body.getReader();
  const stop = () => void reader.cancel().catch(() => {});
  res.on("close", stop);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise<void>((r) => res.once("drain", r));
      if (res.destroyed) break;
    }
  } finally {
    res.off("close", stop);
    res.end();
  }
}

async function toRequest(
  req: IncomingMessage,
  signal: AbortSignal,
  maxBody: number,
): Promise<Request | null> {
  const encrypted = (req.socket as TLSSocket).encrypted === true;
  const host = req.headers.host ?? "localhost";
  const path = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? "/";
  const url = new URL(path, `${encrypted ? "https" : "http"}://${host}`);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(":")) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  const method = req.method ?? "GET";
  let body: Uint8Array | string | undefined;
  if (method !== "GET" && method !== "HEAD") {
    // A body parser (express.json()) may have read the stream already.
    const parsed = (req as IncomingMessage & { body?: unknown }).body;
    if (parsed !== undefined && req.readableEnded)
      body = typeof parsed === "string" || parsed instanceof Uint8Array ? parsed : JSON.stringify(parsed);
    else {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBody) return null;
        chunks.push(chunk);
      }
      body = Buffer.concat(chunks);
    }
  }
  return new Request(url, { method, headers, body, signal });
}
