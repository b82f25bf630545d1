import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Dashboard, toNodeHandler } from "../src/index";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** A fresh Redis key prefix (with its hash tag) for one test file. */
export function randomPrefix(tag: string): string {
  return `qtasks-test:{${tag}-${randomBytes(6).toString("hex")}}`;
}

/** A deferred promise whose `resolve` a test calls to let a task go on. */
export function gate<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Retries `check` until it stops throwing, up to `ms` (the last failure is rethrown). */
export async function eventually<T>(check: () => Promise<T> | T, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The dashboard on node:http at a random local port, through `toNodeHandler`. */
export async function serve(
  dashboard: Dashboard,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer(toNodeHandler(dashboard));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${dashboard.basePath}/`,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Reads server-sent events from a response until `until` returns true for the events so far. */
export async function readEvents(
  res: Response,
  until: (events: { event: string; data: unknown; id?: string }[]) => boolean,
): Promise<{ event: string; data: unknown; id?: string }[]> {
  const events: { event: string; data: unknown; id?: string }[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    while (!until(events)) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      let at = buffer.indexOf("\n\n");
      while (at >= 0) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        let event = "message";
        let data = "";
        let id: string | undefined;
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
          else if (line.startsWith("id: ")) id = line.slice(4);
        }
        if (data)
          events.push(
            id === undefined ? { event, data: JSON.parse(data) } : { event, data: JSON.parse(data), id },
          );
        at = buffer.indexOf("\n\n");
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return events;
}
