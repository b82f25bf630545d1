import { MemoryBroker, QueueTasks, silentLogger, TaskFailedError } from "@qtasks/core";
import { afterAll, describe, expect, it } from "vitest";
import { admin, dropSchema, makeStorage, randomSchema } from "./helpers";

const schema = randomSchema();
afterAll(async () => {
  await dropSchema(schema);
});

describe("QueueTasks with MemoryBroker and PostgresStorage", () => {
  it("runs a task added by a client and returns its result; errors and generators are stored", async () => {
    const storage = makeStorage(schema);
    const app = new QueueTasks({ name: "pg-e2e", broker: new MemoryBroker(), storage, logger: silentLogger });
    const add = app.task({ name: "add" }, async (x: number, y: number) => ({
      sum: x + y,
      note: "'; DROP TABLE x;--",
    }));
    const fail = app.task({ name: "fail" }, async () => {
      throw new Error("boom $$ 'quoted'");
    });
    await app.start();
    try {
      const handle = await add.addTask(2, 3);
      expect(await handle.result({ timeout: 15 })).toEqual({ sum: 5, note: "'; DROP TABLE x;--" });
      const record = await app.get(handle.uuid);
      expect(record).toMatchObject({ status: "success", args: [2, 3], taskName: "add", attempt: 1 });
      const rows = await admin<{ status: string; args: unknown }>(
        `SELECT status, args FROM "${schema}".tasks WHERE uuid = $1`,
        [handle.uuid],
      );
      expect(rows).toEqual([{ status: "success", args: [2, 3] }]);

      const bad = await fail.addTask();
      await expect(bad.result({ timeout: 15 })).rejects.toBeInstanceOf(TaskFailedError);
      expect((await app.get(bad.uuid))?.traceback).toContain("boom $$ 'quoted'");

      const many = await add.addTasks(Array.from({ length: 50 }, (_, i) => [i, i] as [number, number]));
      const sums = await Promise.all(many.map((h) => h.result({ timeout: 30 })));
      expect(sums.map((s) => s.sum)).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i));
    } finally {
      await app.stop({ timeout: 5 });
    }
  });
});
