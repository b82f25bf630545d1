import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import type { NewTaskRecord, StorageEvent, TaskEnvelope } from "@qtasks/core";
import { ConnectionError, newUuid } from "@qtasks/core";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { deletePrefix, REDIS_URL, randomPrefix, StorageFactory, waitFor } from "./helpers";

const prefix = randomPrefix("notify");
const factory = new StorageFactory(prefix);

afterAll(async () => {
  await factory.stopAll();
  await deletePrefix(prefix);
});

function rec(): NewTaskRecord {
  return { uuid: newUuid(), taskName: "t.n", priority: 0, args: [], retries: 0, tags: [], extra: {} };
}
function env(r: NewTaskRecord): TaskEnvelope {
  return {
    v: 1,
    uuid: r.uuid,
    taskName: r.taskName,
    args: r.args,
    priority: 0,
    retries: 0,
    enqueuedAt: Date.now(),
  };
}

/** Resolves when `events` holds an event of `kind`. */
function until(events: StorageEvent[], kind: StorageEvent["kind"], ms = 10_000): Promise<void> {
  return waitFor(`${kind} event`, ms, (done) => {
    const t = setInterval(() => {
      if (events.some((e) => e.kind === kind)) {
        clearInterval(t);
        done(undefined);
      }
    }, 5);
  });
}

describe("RedisStorage notifications", () => {
  it("wakes a waiter on instance A when instance B finishes the task", async () => {
    const a = await factory.make();
    const b = await factory.make();
    const rs = Array.from({ length: 50 }, rec);
    await a.add(rs);
    const seen = new Map<string, StorageEvent[]>();
    const unsubs = await Promise.all(
      rs.map((r) => {
        const list: StorageEvent[] = [];
        seen.set(r.uuid, list);
        return a.subscribe(r.uuid, (e) => list.push(e));
      }),
    );
    for (const r of rs) {
      await b.begin(r.uuid, env(r));
      await b.finish(r.uuid, 1, { status: "success", returning: r.uuid });
    }
    await Promise.all(rs.map((r) => until(seen.get(r.uuid)!, "final")));
    for (const r of rs) {
      const events = seen.get(r.uuid)!;
      expect(events.every((e) => e.uuid === r.uuid)).toBe(true);
      expect(events.map((e) => e.kind)).toEqual(["status", "final"]);
      expect((await a.get(r.uuid))?.returning).toBe(r.uuid);
    }
    await Promise.all(unsubs.map((u) => u()));
  });

  it("serves thousands of waiters over one subscriber connection", async () => {
    const name = `qtasks-test-${newUuid().slice(0, 8)}`;
    const a = await factory.make({ redis: { connectionName: name } });
    const b = await factory.make();
    const rs = Array.from({ length: 2000 }, rec);
    await a.add(rs);
    const finals = new Set<string>();
    // Two listeners on each uuid: the second joins the first's subscription.
    const unsubs = await Promise.all(
      rs.flatMap((r) => [
        a.subscribe(r.uuid, (e) => {
          if (e.kind === "final") finals.add(e.uuid);
        }),
        a.subscribe(r.uuid, () => {}),
      ]),
    );
    const admin = new Redis(REDIS_URL);
    try {
      const list = (await admin.client("LIST")) as string;
      const subs = list.split("\n").filter((l) => l.includes(` name=${name}:sub `));
      expect(subs).toHaveLength(1);
      expect(subs[0]).toMatch(/ sub=2000 /);
    } finally {
      admin.disconnect();
    }
    await Promise.all(
      rs.map(async (r) => {
        await b.begin(r.uuid, env(r));
        await b.finish(r.uuid, 1, { status: "success", returning: null });
      }),
    );
    await waitFor("2000 finals", 20_000, (done) => {
      const t = setInterval(() => {
        if (finals.size === rs.length) {
          clearInterval(t);
          done(undefined);
        }
      }, 20);
    });
    await Promise.all(unsubs.map((u) => u()));
    const admin2 = new Redis(REDIS_URL);
    try {
      const list = (await admin2.client("LIST")) as string;
      const sub = list.split("\n").find((l) => l.includes(` name=${name}:sub `));
      expect(sub).toMatch(/ sub=0 /);
    } finally {
      admin2.disconnect();
    }
  });

  it("re-subscribes after the subscriber connection is killed, sends resync, and waiters still wake", async () => {
    const name = `qtasks-test-${newUuid().slice(0, 8)}`;
    const a = await factory.make({ redis: { connectionName: name } });
    const b = await factory.make();
    const r1 = rec();
    const r2 = rec();
    await a.add([r1, r2]);
    const ev1: StorageEvent[] = [];
    const ev2: StorageEvent[] = [];
    await a.subscribe(r1.uuid, (e) => ev1.push(e));
    await a.subscribe(r2.uuid, (e) => ev2.push(e));
    const admin = new Redis(REDIS_URL);
    try {
      const killed = await killClients(admin, `${name}:sub`);
      expect(killed).toBe(1);
      await Promise.all([until(ev1, "resync"), until(ev2, "resync")]);
      // After the resync the channel really works again (a listener re-reads, then waits).
      await b.begin(r1.uuid, env(r1));
      await b.finish(r1.uuid, 1, { status: "success", returning: 1 });
      await b.begin(r2.uuid, env(r2));
      await b.finish(r2.uuid, 1, { status: "error", traceback: "x" });
      await Promise.all([until(ev1, "final"), until(ev2, "final")]);
      // The main connection killed too: commands reconnect transparently.
      expect(await killClients(admin, name)).toBe(1);
      await waitFor("main reconnect", 10_000, (done) => {
        const t = setInterval(async () => {
          const got = await a.get(r1.uuid).catch(() => null);
          if (got?.status === "success") {
            clearInterval(t);
            done(undefined);
          }
        }, 50);
      });
    } finally {
      admin.disconnect();
    }
  });

  it("after an outage of several seconds, reconnects, resubscribes, resyncs, and works again", async () => {
    const proxy = await startProxy(6379);
    try {
      const a = await factory.make({ url: `redis://127.0.0.1:${proxy.port}` });
      const b = await factory.make();
      const r = rec();
      await a.add([r]);
      const events: StorageEvent[] = [];
      await a.subscribe(r.uuid, (e) => events.push(e));
      await proxy.close();
      await new Promise((res) => setTimeout(res, 3000));
      await expect(a.get(r.uuid)).rejects.toBeInstanceOf(ConnectionError);
      await proxy.reopen();
      await until(events, "resync", 15_000);
      await b.begin(r.uuid, env(r));
      await b.finish(r.uuid, 1, { status: "success", returning: "back" });
      await until(events, "final");
      expect((await a.get(r.uuid))?.returning).toBe("back");
    } finally {
      await proxy.close();
    }
  });

  it("fails fast with ConnectionError when Redis goes away after start", async () => {
    const proxy = await startProxy(6379);
    try {
      const s = await factory.make({ url: `redis://127.0.0.1:${proxy.port}` });
      const r = rec();
      await s.add([r]);
      expect((await s.get(r.uuid))?.status).toBe("new");
      await proxy.close();
      const t0 = Date.now();
      const err = await s.get(r.uuid).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect(Date.now() - t0).toBeLessThan(5500);
      const t1 = Date.now();
      const err2 = await s.finish(r.uuid, 1, { status: "success", returning: 1 }).catch((e: unknown) => e);
      expect(err2).toBeInstanceOf(ConnectionError);
      expect(Date.now() - t1).toBeLessThan(5500);
      const t2 = Date.now();
      const err3 = await s.subscribe(r.uuid, () => {}).catch((e: unknown) => e);
      expect(err3).toBeInstanceOf(ConnectionError);
      expect(Date.now() - t2).toBeLessThan(5500);
    } finally {
      await proxy.close();
    }
  });
});

async function killClients(admin: Redis, name: string): Promise<number> {
  const list = (await admin.client("LIST")) as string;
  let n = 0;
  for (const line of list.split("\n")) {
    const id = /(?:^| )id=(\d+)/.exec(line)?.[1];
    const cname = /(?:^| )name=(\S*)/.exec(line)?.[1];
    if (id && cname === name) {
      await admin.client("KILL", "ID", id);
      n++;
    }
  }
  return n;
}

/** A TCP proxy to Redis that can be shut down (listener and live sockets) to simulate an outage,
 * and opened again on the same port. */
async function startProxy(
  target: number,
): Promise<{ port: number; close(): Promise<void>; reopen(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = async () => {
    const srv = createServer((client) => {
      const upstream = tcpConnect(target, "127.0.0.1");
      sockets.add(client);
      sockets.add(upstream);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on("error", end);
      upstream.on("error", end);
      client.on("close", end);
      upstream.on("close", end);
    });
    await new Promise<void>((resolve) => srv.listen(port, "127.0.0.1", resolve));
    port = (srv.address() as { port: number }).port;
    server = srv;
  };
  await listen();
  return {
    get port() {
      return port;
    },
    close: async () => {
      const srv = server;
      if (!srv) return;
      server = undefined;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
    reopen: listen,
  };
}
