import type { Logger, StorageEvent } from "@qtasks/core";
import pg from "pg";
import { backoffMs, scrub, sleep } from "./connection";
import { quoteIdent } from "./sql";

type Listener = (event: StorageEvent) => void;

const KINDS = new Set<StorageEvent["kind"]>(["final", "status", "output", "cancel", "resync"]);

/**
 * One dedicated connection (not from the pool, which would hand it back) that LISTENs on the
 * schema's channel and fans notifications out to per-uuid listeners. It LISTENs only while someone
 * subscribes (a worker that never waits does not receive every change of the schema), and UNLISTENs
 * after the last listener has been gone for a while. After a drop it reconnects with capped backoff,
 * LISTENs again and sends `resync` to every listener, since events may have been missed in between.
 */
export class NotificationListener {
  private readonly listeners = new Map<string, Set<Listener>>();
  private client: pg.Client | undefined;
  private ready: Promise<void>;
  private resolveReady!: () => void;
  private stopped = false;
  private connecting = false;
  /** Whether LISTEN is active on the current connection. */
  private listening = false;
  private syncChain: Promise<void> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | undefined;
  /** Times the channel was (re)established, for tests and stats. */
  connects = 0;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly channel: string,
    private readonly logger: Logger,
    private readonly password: string | undefined,
    /** How long LISTEN stays on after the last listener left (so that a stream of waits does not
     * flap it). */
    private readonly idleUnlistenMs = 30_000,
  ) {
    this.ready = this.newReady();
  }

  /** Connect and LISTEN once; throws if the first connection fails (start-up handles retries). */
  async start(): Promise<void> {
    await this.connectOnce();
  }

  /** Whether LISTEN is active now (for tests and stats). */
  get isListening(): boolean {
    return this.listening && this.client !== undefined;
  }

  /**
   * Registers `listener` for `uuid`; the returned promise resolves once LISTEN is active, so that no
   * notification committed after that is missed.
   */
  async add(uuid: string, listener: Listener): Promise<() => void> {
    const key = uuid.toLowerCase();
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(listener);
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    const remove = () => {
      const s = this.listeners.get(key);
      if (!s?.delete(listener)) return;
      if (s.size === 0) this.listeners.delete(key);
      if (this.listeners.size === 0 && !this.idleTimer && !this.stopped) {
        this.idleTimer = setTimeout(() => {
          this.idleTimer = undefined;
          void this.sync();
        }, this.idleUnlistenMs);
        this.idleTimer.unref();
      }
    };
    try {
      await this.ensureListening();
    } catch (err) {
      remove();
      throw err;
    }
    return remove;
  }

  private async ensureListening(): Promise<void> {
    for (let attempt = 1; !this.stopped; attempt++) {
      await this.ready;
      if (this.stopped) return;
      await this.sync();
      if (this.isListening) return;
      // The connection dropped under us: the reconnect LISTENs again; wait for it.
      await sleep(Math.min(50 * attempt, 500));
    }
  }

  /** Brings LISTEN in line with whether anyone listens. Serialised: one LISTEN/UNLISTEN at a time. */
  private sync(): Promise<void> {
    this.syncChain = this.syncChain.then(async () => {
      const client = this.client;
      const want = this.listeners.size > 0;
      if (!client || this.stopped || want === this.listening) return;
      try {
        await client.query(`${want ? "LISTEN" : "UNLISTEN"} ${quoteIdent(this.channel)}`);
        if (this.client === client) this.listening = want;
      } catch {
        // A failed LISTEN means a broken connection: the drop handler reconnects.
      }
    });
    return this.syncChain;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.listeners.clear();
    this.resolveReady();
    const c = this.client;
    this.client = undefined;
    if (c) await c.end().catch(() => {});
  }

  private newReady(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.resolveReady = resolve;
    });
  }

  private async connectOnce(): Promise<void> {
    const client = new pg.Client(this.config);
    client.on("notification", (msg) => this.onNotification(msg.channel, msg.payload));
    client.on("error", (err) => this.onDrop(client, err));
    client.on("end", () => this.onDrop(client, undefined));
    const listen = this.listeners.size > 0;
    try {
      await client.connect();
      if (listen) await client.query(`LISTEN ${quoteIdent(this.channel)}`);
    } catch (err) {
      client.removeAllListeners("end");
      client.removeAllListeners("error");
      client.on("error", () => {});
      await client.end().catch(() => {});
      throw err;
    }
    if (this.stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.listening = listen;
    this.connects++;
    this.resolveReady();
  }

  private onDrop(client: pg.Client, err: Error | undefined): void {
    if (this.client !== client || this.stopped) return;
    this.client = undefined;
    this.listening = false;
    this.ready = this.newReady();
    client.removeAllListeners("notification");
    client.on("error", () => {});
    this.logger.warn("PostgreSQL notification connection lost; reconnecting", {
      error: err ? scrub(err.message, this.password) : "connection ended",
    });
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    if (this.connecting) return;
    this.connecting = true;
    try {
      for (let attempt = 1; !this.stopped; attempt++) {
        try {
          await this.connectOnce();
          if (this.stopped) return;
          this.logger.info("PostgreSQL notification connection re-established", { attempt });
          this.broadcastResync();
          return;
        } catch (err) {
          const delay = backoffMs(attempt, 100, 5000);
          this.logger.warn("PostgreSQL notification reconnect failed", {
            attempt,
            retryInMs: delay,
            error: scrub((err as Error).message, this.password),
          });
          await sleep(delay);
        }
      }
    } finally {
      this.connecting = false;
    }
  }

  private broadcastResync(): void {
    for (const [uuid, set] of this.listeners) {
      for (const l of [...set]) safeCall(l, { uuid, kind: "resync" }, this.logger);
    }
  }

  private onNotification(channel: string, payload: string | undefined): void {
    if (channel !== this.channel || !payload) return;
    const i = payload.lastIndexOf(":");
    if (i <= 0) return;
    const uuid = payload.slice(0, i);
    const kind = payload.slice(i + 1) as StorageEvent["kind"];
    if (!KINDS.has(kind)) return;
    const set = this.listeners.get(uuid);
    if (!set) return;
    for (const l of [...set]) safeCall(l, { uuid, kind }, this.logger);
  }
}

function safeCall(l: Listener, event: StorageEvent, logger: Logger): void {
  try {
    l(event);
  } catch (err) {
    logger.error("storage listener threw", { uuid: event.uuid, error: (err as Error).message });
  }
}
