import { newUuid } from "@qtasks/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PostgresStorage } from "../src/index";
import { ctx, dropSchema, makeStorage, randomSchema } from "./helpers";

const schema = randomSchema();
let s: PostgresStorage;
beforeAll(async () => {
  s = makeStorage(schema);
  await s.start(ctx());
});
afterAll(async () => {
  await s.stop();
  await dropSchema(schema);
});

describe("smoke", () => {
  it("lifecycle", async () => {
    const uuid = newUuid();
    await s.add([
      { uuid, taskName: "t", priority: 1, args: [1, "a", null], retries: 0, tags: ["x"], extra: { a: 1 } },
    ]);
    const events: string[] = [];
    await s.subscribe(uuid, (e) => events.push(e.kind));
    const b = await s.begin(uuid, {
      v: 1,
      uuid,
      taskName: "t",
      args: [],
      priority: 0,
      retries: 0,
      enqueuedAt: Date.now(),
    });
    expect(b.kind).toBe("started");
    expect(await s.finish(uuid, 1, { status: "success", returning: null })).toBe(true);
    expect(await s.finish(uuid, 1, { status: "success", returning: 2 })).toBe(false);
    const r = await s.get(uuid);
    expect(r).toMatchObject({
      status: "success",
      returning: null,
      args: [1, "a", null],
      attempt: 1,
      tags: ["x"],
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(events).toEqual(["status", "final"]);
    const b2 = await s.begin(uuid, {
      v: 1,
      uuid,
      taskName: "t",
      args: [],
      priority: 0,
      retries: 0,
      enqueuedAt: Date.now(),
    });
    expect(b2.kind).toBe("final");
    const u2 = newUuid();
    const b3 = await s.begin(u2, {
      v: 1,
      uuid: u2,
      taskName: "t2",
      args: [5],
      priority: 0,
      retries: 0,
      enqueuedAt: Date.now(),
    });
    expect(b3).toMatchObject({ kind: "started", attempt: 1 });
    await s.appendOutput(u2, 1, { o: 1 });
    await s.appendOutput(u2, 1, "two");
    expect(await s.getOutputs(u2)).toEqual([{ o: 1 }, "two"]);
    expect(await s.requestCancel(u2, "stop")).toBe("requested");
    expect(await s.finish(u2, 1, { status: "cancel", cancelReason: "stop" })).toBe(true);
    expect(await s.count()).toMatchObject({ success: 1, cancel: 1 });
    expect((await s.list()).map((x) => x.uuid)).toEqual([u2, uuid]);
    expect(await s.purge({ olderThanSeconds: 0 })).toBe(2);
  });
});
