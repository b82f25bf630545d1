/** Response helpers shared by the routes. Every API answer is JSON and never cached. */

/** Headers on every answer: no sniffing, no framing, no referrer leaking task uuids. */
export const BASE_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

/**
 * The page's policy: scripts, styles and connections only from the dashboard itself; no inline
 * script can run even if a value ever reached the DOM as markup.
 */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** An error answered to the client with its status and a message that holds no internals. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code = "bad_request",
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export function json(body: unknown, status = 200, extra: Record<string, string> = {}): Response {
  return new Response(toJson(body), {
    status,
    headers: {
      ...BASE_HEADERS,
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      ...extra,
    },
  });
}

export function errorResponse(status: number, code: string, message: string): Response {
  return json({ error: { code, message } }, status);
}

/** JSON where bigints (a custom storage may return them) become strings instead of throwing. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v));
}

const MAX_BODY = 64 * 1024;

/** The JSON body of an action request (`{}` when empty). Bodies over 64 KiB are refused. */
export async function readJsonBody(request: Request): Promise<Record<string, unknown>> {
  const text = await request.text();
  if (text.length > MAX_BODY) throw new HttpError(413, "request body too large", "too_large");
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(400, "request body is not JSON", "bad_json");
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
    throw new HttpError(400, "request body must be a JSON object", "bad_json");
  return parsed as Record<string, unknown>;
}
