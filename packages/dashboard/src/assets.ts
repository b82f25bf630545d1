import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DashboardAssetsMissingError } from "./errors";
import { BASE_HEADERS, CSP } from "./http";

/** One static file of the page, held in memory (the whole UI is a few tens of KiB). */
interface Asset {
  body: Uint8Array;
  type: string;
  etag: string;
}

const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
  "favicon.svg": "image/svg+xml",
};

/**
 * The directory of the built page: `dist/ui` beside the built module, or (when running from the
 * sources, as the tests do) `../dist/ui` beside `src`.
 */
export function assetsDir(): string {
  const beside = fileURLToPath(new URL("./ui/", import.meta.url));
  if (existsSync(`${beside}app.js`)) return beside;
  return fileURLToPath(new URL("../dist/ui/", import.meta.url));
}

export class Assets {
  private readonly files = new Map<string, Asset>();

  constructor(readonly dir: string = assetsDir()) {
    for (const [name, type] of Object.entries(FILES)) {
      const path = `${dir}${name}`;
      if (!existsSync(path)) throw new DashboardAssetsMissingError(dir);
      const body = readFileSync(path);
      const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"`;
      this.files.set(name, { body, type, etag });
    }
  }

  has(name: string): boolean {
    return this.files.has(name);
  }

  /** The file as a response (304 when the client's copy is current). */
  serve(name: string, request: Request): Response {
    const asset = this.files.get(name);
    if (!asset) return new Response("not found", { status: 404, headers: BASE_HEADERS });
    const headers: Record<string, string> = {
      ...BASE_HEADERS,
      "content-type": asset.type,
      etag: asset.etag,
      // Revalidate every time: a new package version must not run with an old page.
      "cache-control": "no-cache",
    };
    if (name === "index.html") headers["content-security-policy"] = CSP;
    if (request.headers.get("if-none-match") === asset.etag)
      return new Response(null, { status: 304, headers });
    return new Response(request.method === "HEAD" ? null : asset.body, { headers });
  }
}
