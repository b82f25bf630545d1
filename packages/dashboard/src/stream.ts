import { isFinalStatus, type Storage, type TaskRecord, type Unsubscribe } from "@qtasks/core";
import { BASE_HEADERS, toJson } from "./http";

/**
 * The live view of one task as server-sent events:
 * - `record` (the whole record) first and on every change of status;
 * - `output` `{ index, value }` for every generator output, in order, with `id: index` so that a
 *   reconnecting EventSource (which sends `Last-Event-ID`) resumes after the last one it got;
 * - `end` once the record is final and every output was sent, then the stream closes;
 * - `missing` when there is no such record, then the stream closes.
 *
 * It subscribes before the first read, so nothing appended in between is missed, and re-reads from
 * the storage on every notification (notifications carry no data, see `StorageEvent`). Reads never
 * overlap: notifications during a read are folded into one more read.
 */
export function taskEventStream(
  storage: Storage,
  uuid: string,
  request: Request,
  keepAliveMs: number,
): Response {
  const encoder = new TextEncoder();
  const lastIdHeader = request.headers.get("last-event-id");
  const lastId = lastIdHeader === null || lastIdHeader.trim() === "" ? -1 : Number(lastIdHeader);
  let sent = Number.isSafeInteger(lastId) && lastId >= 0 ? lastId + 1 : 0;
  let lastRecordKey = "";
  let unsubscribe: Unsubscribe | undefined;
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  let reading = false;
  let again = false;
  let controllerRef: ReadableStreamDefaultController<Uint8Array> | undefined;

  const cleanup = () => {
    if (closed) return;
    closed = true;
    if (keepAlive) clearInterval(keepAlive);
    request.signal?.removeEventListener("abort", onAbort);
    unsubscribe?.().catch(() => {});
    unsubscribe = undefined;
  };
  const finish = () => {
    const c = controllerRef;
    cleanup();
    try {
      c?.close();
    } catch {
      // Already closed by the client.
    }
  };
  const onAbort = () => finish();
  const send = (event: string, data: unknown, id?: number) => {
    if (closed) return;
    const head = id === undefined ? "" : `id: ${id}\n`;
    controllerRef?.enqueue(encoder.encode(`${head}event: ${event}\ndata: ${toJson(data)}\n\n`));
  };

  const readOnce = async () => {
    const record = await storage.get(uuid);
    if (closed) return;
    if (!record) {
      send("missing", { uuid });
      finish();
      return;
    }
    const key = recordKey(record);
    if (key !== lastRecordKey) {
      lastRecordKey = key;
      send("record", record);
    }
    const outputs = await storage.getOutputs(uuid, sent);
    for (const value of outputs) {
      send("output", { index: sent, value }, sent);
      sent++;
    }
    if (isFinalStatus(record.status)) {
      send("end", { status: record.status });
      finish();
    }
  };
  const pump = async () => {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        await readOnce();
      } while (again && !closed);
    } catch (error) {
      send("failure", { message: error instanceof Error ? error.message : String(error) });
      finish();
    } finally {
      reading = false;
    }
  };

  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controllerRef = controller;
      controller.enqueue(encoder.encode("retry: 2000\n\n"));
      if (request.signal?.aborted) return finish();
      request.signal?.addEventListener("abort", onAbort);
      try {
        const off = await storage.subscribe(uuid, () => void pump());
        if (closed) {
          await off();
          return;
        }
        unsubscribe = off;
      } catch (error) {
        send("failure", { message: error instanceof Error ? error.message : String(error) });
        return finish();
      }
      keepAlive = setInterval(() => {
        if (!closed) controller.enqueue(encoder.encode(": keep-alive\n\n"));
      }, keepAliveMs);
      keepAlive.unref?.();
      void pump();
    },
    cancel() {
      cleanup();
    },
  });
  return new Response(body, {
    headers: {
      ...BASE_HEADERS,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      // Proxies (nginx) must not buffer the stream.
      "x-accel-buffering": "no",
    },
  });
}

function recordKey(r: TaskRecord): string {
  return `${r.status}|${r.attempt}|${+new Date(r.updatedAt)}|${r.cancelReason ?? ""}`;
}
