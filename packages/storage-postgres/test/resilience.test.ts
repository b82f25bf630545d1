import { randomBytes } from "node:crypto";
import { MemoryBroker, newUuid, QueueTasks, type StorageEvent, silentLogger } from "@qtasks/core";
import { afterAll, describe, expect, it } from "vitest";
import { admin, ctx, dropSchema, makeStorage, randomSchema, waitFor } from "./helpers";

const schema = randomSchema();
afterAll(async () => {
  await dropSchema(schema);
});

/** Terminates every backend of one application name (our own storage's connections only). */
async function terminate(appName: string): Promise<number> {
  const rows = await admin<{ ok: boolean }>(
    "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
    [appName],
  );
  return rows.filter((r) => r.ok).length;
}

async function backends(appName: string): Promise<number> {
  const rows = await admin<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1",
    [appName],
  );
  return rows[0]!.n;
}

describe("dropped connections", () => {
  it("the listener reconnects, re-LISTENs and sends resync; later events still arrive", async () => {
    const appName = `qt-drop-${randomBytes(4).toString("hex")}`;
    const s = makeStorage(schema, { applicationName: appName });
    await s.start(ctx());
    try {
      const uuid = newUuid();
      await s.add([{ uuid, taskName: "t", priority: 0, args: [], retries: 0, tags: [], extra: {} }]);
      const events: StorageEvent["kind"][] = [];
      await s.subscribe(uuid, (e) => events.push(e.kind));
      expect(await backends(appName)).toBeGreaterThanOrEqual(2); // pool + dedicated LISTEN connection
      expect(await terminate(appName)).toBeGreaterThanOrEqual(2);
      await waitFor(() => events.includes("resync"), 20000);
      // Still listening after the reconnect: a write from the (also reconnected) pool is notified.
      await s.begin(uuid, {
        v: 1,
        uuid,
        taskName: "t",
        args: [],
        priority: 0,
        retries: 0,
        enqueuedAt: Date.now(),
      });
      await waitFor(() => events.includes("status"), 20000);
      expect(events.indexOf("resync")).toBeLessThan(events.indexOf("status"));
    } finally {
      await s.stop();
    }
  }, 60_000);

  it("pg_terminate_backend mid-run: the work finishes and waiting clients still wake", async () => {
    const appName = `qt-kill-${randomBytes(4).toString("hex")}`;
    const storage = makeStorage(schema, { applicationName: appName });
    const app = new QueueTasks({
      name: "pgkill",
      broker: new MemoryBroker(),
      storage,
      logger: silentLogger,
      config: { maxTasksProcess: 8 },
    });
    const slow = app.task({ name: "slow" }, async (i: number) => {
      await new Promise((r) => setTimeout(r, 150));
      return i * 2;
    });
    await app.start();
    try {
      const handles = await slow.addTasks(Array.from({ length: 40 }, (_, i) => [i] as [number]));
      const results = Promise.all(handles.map((h) => h.result({ timeout: 60 })));
      let killed = 0;
      for (let round = 0; round < 3; round++) {
        await new Promise((r) => setTimeout(r, 200));
        killed += await terminate(appName);
      }
      expect(killed).toBeGreaterThan(0);
      expect(await results).toEqual(Array.from({ length: 40 }, (_, i) => i * 2));
      const rows = await admin<{ status: string; n: number }>(
        `SELECT status, count(*)::int AS n FROM "${schema}".tasks WHERE task_name = 'slow' GROUP BY status`,
      );
      expect(rows).toEqual([{ status: "success", n: 40 }]);
    } finally {
      await app.stop({ timeout: 5 });
    }
  }, 90_000);
});
