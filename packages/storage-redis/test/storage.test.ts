import { newUuid } from "@qtasks/core";
import { afterAll, describe, expect, it } from "vitest";
import { deletePrefix, randomPrefix, StorageFactory } from "./helpers";

const prefix = randomPrefix("storage");
const factory = new StorageFactory(prefix);

afterAll(async () => {
  await factory.stopAll();
  await deletePrefix(prefix);
});

function rec(partial: Record<string, unknown> = {}) {
  return { uuid: newUuid(), taskName: "t.a", priority: 0, args: [1, "x"], retries: 0, tags: [], extra: {}, ...partial };
}

describe("RedisStorage basics", () => {
  it("adds, begins, finishes, gets", async () => {
    const s = await factory.make();
    const r = rec();
    await s.add([r]);
    const got = await s.get(r.uuid);
    expect(got).toMatchObject({ uuid: r.uuid, status: "new", attempt: 0, args: [1, "x"], taskName: "t.a" });
    const b = await s.begin(r.uuid, { v: 1, uuid: r.uuid, taskName: "t.a", args: [1, "x"], priority: 0, retries: 0, enqueuedAt: Date.now() });
    expect(b.kind).toBe("started");
    if (b.kind !== "started") return;
    expect(b.attempt).toBe(1);
    expect(b.record.status).toBe("process");
    expect(b.record.startedAt).toBeInstanceOf(Date);
    expect(await s.finish(r.uuid, 1, { status: "success", returning: { ok: ["ü", 1] } })).toBe(true);
    expect(await s.finish(r.uuid, 1, { status: "success", returning: 2 })).toBe(false);
    const fin = await s.get(r.uuid);
    expect(fin).toMatchObject({ status: "success", returning: { ok: ["ü", 1] }, attempt: 1 });
    expect(fin?.finishedAt).toBeInstanceOf(Date);
    const counts = await s.count();
    expect(counts.success).toBe(1);
    expect(counts.new).toBe(0);
    const list = await s.list();
    expect(list.map((x) => x.uuid)).toEqual([r.uuid]);
  });
});
