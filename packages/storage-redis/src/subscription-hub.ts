import type { Logger, StorageEvent, Unsubscribe } from "@qtasks/core";
import type { Redis } from "ioredis";
import { safeMessage, toConnectionError, withDeadline } from "./connection";

type Listener = (event: StorageEvent) => void;

interface Channel {
  uuid: string;
  listeners: Set<Listener>;
  /** Settles when Redis confirmed the SUBSCRIBE for this channel. */
  ready: Promise<unknown>;
}

const KINDS = new Set<string>(["final", "status", "output", "cancel"]);
const RESUBSCRIBE_CHUNK = 1000;

/**
 * One subscriber connection shared by every listener of a storage instance. A channel per uuid means
 * a process receives only the notifications it waits for; Redis keeps thousands of channels on one
 * connection without trouble. We resubscribe ourselves after a reconnect (not ioredis) so that we
 * know when it is done and can tell every listener to `resync`.
 */
export class SubscriptionHub {
  private readonly channels = new Map<string, Channel>();
  private readyCount = 0;
  private closed = false;

  constructor(
    private readonly conn: Redis,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {
    conn.on("message", (channel: string, message: string) => this.dispatch(channel, message));
    conn.on("ready", () => {
      if (++this.readyCount > 1) void this.resubscribe();
    });
    let down = false;
    conn.on("error", (err: Error) => {
      // Log an outage once, not once per reconnect attempt.
      if (down) return;
      down = true;
      this.logger.warn("redis storage: subscriber connection error, reconnecting", {
        error: safeMessage(err),
      });
    });
    conn.on("ready", () => {
      if (down) this.logger.info("redis storage: subscriber connection is back");
      down = false;
    });
  }

  async subscribe(uuid: string, channel: string, listener: Listener): Promise<Unsubscribe> {
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = { uuid, listeners: new Set(), ready: this.conn.subscribe(channel) };
      // Avoid an unhandled rejection when every caller has already given up.
      entry.ready.catch(() => {});
      this.channels.set(channel, entry);
    }
    // Each caller gets its own function object, so the same listener can be added twice and removed
    // once per unsubscribe.
    const own: Listener = (e) => listener(e);
    entry.listeners.add(own);
    const joined = entry;
    try {
      await withDeadline("redis storage", "SUBSCRIBE", this.timeoutMs, () => joined.ready);
    } catch (err) {
      this.drop(channel, joined, own);
      throw toConnectionError("redis storage", "SUBSCRIBE", err);
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      await this.drop(channel, joined, own);
    };
  }

  /** Drop everything; the connection itself is closed by the storage. */
  close(): void {
    this.closed = true;
    this.channels.clear();
  }

  private async drop(channel: string, entry: Channel, listener: Listener): Promise<void> {
    entry.listeners.delete(listener);
    if (entry.listeners.size > 0 || this.channels.get(channel) !== entry) return;
    this.channels.delete(channel);
    if (this.closed) return;
    try {
      // Commands on one connection run in order, so a later SUBSCRIBE of the same channel wins.
      await withDeadline("redis storage", "UNSUBSCRIBE", this.timeoutMs, () =>
        this.conn.unsubscribe(channel),
      );
    } catch {
      // The connection is down: after the reconnect we only resubscribe channels still wanted.
    }
  }

  private dispatch(channel: string, message: string): void {
    const entry = this.channels.get(channel);
    if (!entry || !KINDS.has(message)) return;
    this.emit(entry, { uuid: entry.uuid, kind: message as StorageEvent["kind"] });
  }

  private emit(entry: Channel, event: StorageEvent): void {
    for (const l of [...entry.listeners]) {
      try {
        l(event);
      } catch (err) {
        this.logger.error("redis storage: a subscribe listener threw", {
          uuid: entry.uuid,
          error: safeMessage(err),
        });
      }
    }
  }

  /** After a reconnect: subscribe every wanted channel again, then tell every listener to re-read. */
  private async resubscribe(): Promise<void> {
    const names = [...this.channels.keys()];
    try {
      for (let i = 0; i < names.length; i += RESUBSCRIBE_CHUNK) {
        await this.conn.subscribe(...names.slice(i, i + RESUBSCRIBE_CHUNK));
      }
    } catch (err) {
      // Lost again before it finished: the next "ready" starts over.
      this.logger.warn("redis storage: resubscribe failed, will retry on reconnect", {
        error: safeMessage(err),
      });
      return;
    }
    if (this.closed) return;
    for (const entry of this.channels.values()) this.emit(entry, { uuid: entry.uuid, kind: "resync" });
  }
}
