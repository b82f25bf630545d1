import { NotStartedError, UnstorableValueError, type WorkerInfo } from "@qtasks/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresGlobalConfig } from "../src/index";
import { ctx, DATABASE_URL, dropSchema, randomSchema, waitFor } from "./helpers";

const schema = randomSchema();
let gc: PostgresGlobalConfig;
beforeAll(async () => {
  gc = new PostgresGlobalConfig({ connectionString: DATABASE_URL, schema });
  await gc.start(ctx());
});
afterAll(async () => {
  await gc.stop();
  await dropSchema(schema);
});

function info(id: string): WorkerInfo {
  const now = new Date();
  return {
    id,
    appName: "app",
    host: "h",
    pid: 1,
    concurrency: 4,
    running: 0,
    startedAt: now,
    heartbeatAt: now,
  };
}

describe("PostgresGlobalConfig", () => {
  it("lists live workers, expires silent ones, unregisters at once", async () => {
    await gc.heartbeat(info("w1"), 60);
    await gc.heartbeat(info("w2"), 1);
    await gc.heartbeat({ ...info("w1"), running: 3 }, 60);
    const workers = await gc.listWorkers();
    expect(workers.map((w) => w.id)).toEqual(["w1", "w2"]);
    expect(workers[0]).toMatchObject({ running: 3, concurrency: 4 });
    expect(workers[0]!.startedAt).toBeInstanceOf(Date);
    await waitFor(async () => (await gc.listWorkers()).length === 1, 10000);
    await gc.unregister("w1");
    expect(await gc.listWorkers()).toEqual([]);
  });

  it("stores JSON settings shared between instances", async () => {
    const other = new PostgresGlobalConfig({ connectionString: DATABASE_URL, schema });
    await other.start(ctx());
    try {
      await gc.set("k", { a: [1, "'; DROP TABLE x;--"] });
      expect(await other.get("k")).toEqual({ a: [1, "'; DROP TABLE x;--"] });
      await other.set("k", null);
      expect(await gc.get("k")).toBeNull();
      expect(await gc.get("missing")).toBeUndefined();
      await expect(gc.set("bad", "\u0000")).rejects.toBeInstanceOf(UnstorableValueError);
    } finally {
      await other.stop();
    }
    await expect(other.get("k")).rejects.toBeInstanceOf(NotStartedError);
  });
});
