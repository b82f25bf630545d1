import { timingSafeEqual } from "node:crypto";
import { HttpError } from "./http";
import type { DashboardAction, ResolvedOptions } from "./options";

export const TOKEN_HEADER = "x-qtasks-dashboard-token";

/**
 * Whether a state-changing request comes from the dashboard's own page (or another allowed
 * origin), or carries the token. Browsers send `Origin` on every POST made by `fetch`, and a
 * cross-site form or script cannot forge it, so this stops cross-site request forgery.
 */
export function checkOrigin(request: Request, options: ResolvedOptions): void {
  if (options.token !== undefined) {
    const given = request.headers.get(TOKEN_HEADER);
    if (given !== null && sameSecret(given, options.token)) return;
  }
  const origin = request.headers.get("origin");
  if (origin !== null && origin !== "null") {
    if (origin === new URL(request.url).origin || options.allowedOrigins.includes(origin)) return;
    throw new HttpError(403, "cross-origin action refused", "cross_origin");
  }
  // No Origin header: only a same-origin fetch metadata header (sent by browsers) is accepted.
  if (request.headers.get("sec-fetch-site") === "same-origin") return;
  throw new HttpError(403, "action needs a same-origin request or the dashboard token", "cross_origin");
}

/** Whether `authorize` allows `action` for this request; `false` when no hook was given. */
export async function allowed(
  request: Request,
  action: DashboardAction,
  options: ResolvedOptions,
): Promise<boolean> {
  if (!options.authorize) return false;
  try {
    return (await options.authorize(request, action)) === true;
  } catch {
    // A throwing hook denies: failing closed is the safe default for an operator action.
    return false;
  }
}

/** Runs every check an action needs: POST, origin or token, then `authorize`. */
export async function guardAction(
  request: Request,
  action: DashboardAction,
  options: ResolvedOptions,
): Promise<void> {
  if (request.method !== "POST") throw new HttpError(405, "actions are POST requests", "method");
  checkOrigin(request, options);
  if (!options.authorize)
    throw new HttpError(
      403,
      "actions are disabled: the dashboard was created without authorize",
      "read_only",
    );
  if (!(await allowed(request, action, options)))
    throw new HttpError(403, `not authorized to ${action}`, "forbidden");
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
