import { inspect } from "node:util";
import type { NewTaskRecord, StorageEvent, TaskEnvelope } from "@qtasks/core";
import { ConnectionError, NotStartedError, newUuid, UnstorableValueError } from "@qtasks/core";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RedisStorage } from "../src/index";
import { ctx, deletePrefix, REDIS_URL, randomPrefix, StorageFactory, waitFor } from "./helpers";

const prefix = randomPrefix("storage");
const factory = new StorageFactory(prefix);

afterAll(async () => {
  await factory.stopAll();
  await deletePrefix(prefix);
});

function rec(partial: Partial<NewTaskRecord> = {}): NewTaskRecord {
  return {
    uuid: newUuid(),
    taskName: "t.a",
    priority: 0,
    args: [1, "x"],
    retries: 0,
    tags: [],
    extra: {},
    ...partial,
  };
}

function env(r: NewTaskRecord): TaskEnvelope {
  return {
    v: 1,
    uuid: r.uuid,
    taskName: r.taskName,
    args: r.args,
    priority: r.priority,
    retries: r.retries,
    enqueuedAt: Date.now(),
    tags: r.tags,
    extra: r.extra,
  };
}

describe("RedisStorage", () => {
  it("runs a record through add, begin, finish and reads it back with Dates", async () => {
    const s = await factory.make();
    const r = rec({ tags: ["a", "b"], extra: { k: [1, { z: null }] }, parentUuid: "p-1", retryOf: "r-0" });
    await s.add([r]);
    expect(await s.get(r.uuid)).toMatchObject({
      uuid: r.uuid,
      status: "new",
      attempt: 0,
      args: [1, "x"],
      taskName: "t.a",
      tags: ["a", "b"],
      extra: { k: [1, { z: null }] },
      parentUuid: "p-1",
      retryOf: "r-0",
    });
    const b = await s.begin(r.uuid, env(r));
    expect(b.kind).toBe("started");
    if (b.kind !== "started") return;
    expect(b.attempt).toBe(1);
    expect(b.record.status).toBe("process");
    expect(b.record.startedAt).toBeInstanceOf(Date);
    expect(await s.finish(r.uuid, 1, { status: "success", returning: { ok: ["ü", 1] } })).toBe(true);
    // Already final: refused, nothing changes.
    expect(await s.finish(r.uuid, 1, { status: "success", returning: 2 })).toBe(false);
    const fin = await s.get(r.uuid);
    expect(fin).toMatchObject({ status: "success", returning: { ok: ["ü", 1] }, attempt: 1, args: [1, "x"] });
    expect(fin?.finishedAt).toBeInstanceOf(Date);
    expect(fin!.finishedAt!.getTime()).toBeGreaterThanOrEqual(fin!.startedAt!.getTime());
    const again = await s.begin(r.uuid, env(r));
    expect(again.kind).toBe("final");
  });

  it("refuses a stale attempt and keeps the newer one", async () => {
    const s = await factory.make();
    const r = rec();
    await s.add([r]);
    await s.begin(r.uuid, env(r));
    const second = await s.begin(r.uuid, env(r)); // redelivery after a lease expired
    expect(second).toMatchObject({ kind: "started", attempt: 2 });
    expect(await s.finish(r.uuid, 1, { status: "error", traceback: "old" })).toBe(false);
    expect(await s.finish(r.uuid, 2, { status: "error", traceback: "new", errorName: "E" })).toBe(true);
    expect(await s.get(r.uuid)).toMatchObject({
      status: "error",
      traceback: "new",
      errorName: "E",
      attempt: 2,
    });
  });

  it("add is idempotent and bulk; an existing record is left untouched", async () => {
    const s = await factory.make();
    const first = rec({ args: ["original"] });
    await s.add([first]);
    await s.begin(first.uuid, env(first));
    const many = Array.from({ length: 1200 }, () => rec());
    await s.add([{ ...first, args: ["changed"] }, ...many, many[0]!]);
    const got = await s.get(first.uuid);
    expect(got).toMatchObject({ status: "process", args: ["original"], attempt: 1 });
    const counts = await s.count();
    expect(counts.new).toBeGreaterThanOrEqual(1200);
    expect(await s.get(many[1199]!.uuid)).toMatchObject({ status: "new" });
  });

  it("begin creates a missing record from the envelope", async () => {
    const s = await factory.make();
    const r = rec({ args: [{ deep: [1, 2] }], tags: ["t"] });
    const e = { ...env(r), enqueuedAt: Date.UTC(2020, 0, 1) };
    const b = await s.begin(r.uuid, e);
    expect(b).toMatchObject({ kind: "started", attempt: 1 });
    const got = await s.get(r.uuid);
    expect(got).toMatchObject({ status: "process", args: [{ deep: [1, 2] }], tags: ["t"], taskName: "t.a" });
    expect(got?.createdAt.getTime()).toBe(Date.UTC(2020, 0, 1));
  });

  it("appends outputs only for the current attempt", async () => {
    const s = await factory.make();
    const r = rec();
    await s.add([r]);
    await s.begin(r.uuid, env(r));
    await s.appendOutput(r.uuid, 1, { n: 1 });
    await s.appendOutput(r.uuid, 7, "stale");
    await s.appendOutput(r.uuid, 1, ["two"]);
    expect(await s.getOutputs(r.uuid)).toEqual([{ n: 1 }, ["two"]]);
    expect(await s.getOutputs(r.uuid, 1)).toEqual([["two"]]);
    await s.finish(r.uuid, 1, { status: "success", returning: null });
    await s.appendOutput(r.uuid, 1, "after final");
    expect(await s.getOutputs(r.uuid)).toHaveLength(2);
    expect((await s.get(r.uuid))?.returning).toBeNull();
  });

  it("cancels a new task at once and requests it for a running one", async () => {
    const s = await factory.make();
    const a = rec();
    const b = rec();
    await s.add([a, b]);
    expect(await s.requestCancel(a.uuid, "not needed")).toBe("cancelled");
    expect(await s.get(a.uuid)).toMatchObject({ status: "cancel", cancelReason: "not needed" });
    expect(await s.requestCancel(a.uuid, "again")).toBe("final");
    await s.begin(b.uuid, env(b));
    const events: StorageEvent[] = [];
    const unsub = await s.subscribe(b.uuid, (e) => events.push(e));
    expect(await s.requestCancel(b.uuid, "stop it")).toBe("requested");
    await waitFor("cancel event", 5000, (done) => {
      const t = setInterval(() => {
        if (events.some((e) => e.kind === "cancel")) {
          clearInterval(t);
          done(undefined);
        }
      }, 10);
    });
    expect(await s.get(b.uuid)).toMatchObject({ status: "process", cancelReason: "stop it" });
    expect(await s.requestCancel(newUuid(), "x")).toBe("not-found");
    await unsub();
  });

  it("requeues an error record back to new", async () => {
    const s = await factory.make();
    const r = rec();
    await s.add([r]);
    await s.begin(r.uuid, env(r));
    await s.finish(r.uuid, 1, { status: "error", traceback: "boom", deadLetterReason: "delivery-limit" });
    const before = await s.count();
    expect(await s.requeue(r.uuid)).toBe(true);
    const got = await s.get(r.uuid);
    expect(got?.status).toBe("new");
    expect(got?.traceback).toBeUndefined();
    expect(got?.deadLetterReason).toBeUndefined();
    expect(got?.finishedAt).toBeUndefined();
    const after = await s.count();
    expect(after.error).toBe(before.error - 1);
    expect(after.new).toBe(before.new + 1);
    expect(await s.requeue(r.uuid)).toBe(false);
    expect(await s.requeue(newUuid())).toBe(false);
    // It can run again.
    expect(await s.begin(r.uuid, env(r))).toMatchObject({ kind: "started", attempt: 2 });
  });

  it("adds a batch in one step: existing and repeated uuids skipped, indexes and same-ms order exact", async () => {
    const s = await factory.make({ prefix: randomPrefix("batch") });
    try {
      const old = rec({ args: ["old"] });
      await s.add([old]);
      const at = new Date(Date.now() - 60_000);
      const rs = Array.from({ length: 5 }, (_, i) => rec({ args: [i], createdAt: at }));
      const again = { ...rs[1]!, args: ["second copy"] };
      // The existing record and the second copy of a uuid are left out of the record and the indexes.
      await s.add([rs[0]!, rs[1]!, { ...old, args: ["changed"] }, again, rs[2]!, rs[3]!, rs[4]!]);
      expect((await s.get(old.uuid))?.args).toEqual(["old"]);
      expect((await s.get(rs[1]!.uuid))?.args).toEqual([1]);
      expect(await s.count()).toMatchObject({ new: 6, process: 0 });
      // Same createdAt: the later in the batch lists first, as with one add per record.
      const listed = (await s.list()).map((r) => r.uuid);
      expect(listed).toEqual([old.uuid, ...rs.map((r) => r.uuid).reverse()]);
    } finally {
      await deletePrefix(s.prefix);
    }
  });

  it("lists newest first with status, task name, limit and offset", async () => {
    const s = await factory.make({ prefix: randomPrefix("list") });
    try {
      const rs = Array.from({ length: 30 }, (_, i) => rec({ taskName: i % 3 === 0 ? "t.three" : "t.other" }));
      for (const r of rs) await s.add([r]);
      for (const r of rs.slice(0, 5)) await s.begin(r.uuid, env(r));
      const all = await s.list();
      expect(all.map((r) => r.uuid)).toEqual(rs.map((r) => r.uuid).reverse());
      const page = await s.list({ limit: 5, offset: 3 });
      expect(page.map((r) => r.uuid)).toEqual(
        rs
          .map((r) => r.uuid)
          .reverse()
          .slice(3, 8),
      );
      const proc = await s.list({ status: "process" });
      expect(proc.map((r) => r.uuid)).toEqual(
        rs
          .slice(0, 5)
          .map((r) => r.uuid)
          .reverse(),
      );
      const threes = await s.list({ taskName: "t.three", offset: 1, limit: 3 });
      const want = rs
        .filter((r) => r.taskName === "t.three")
        .map((r) => r.uuid)
        .reverse()
        .slice(1, 4);
      expect(threes.map((r) => r.uuid)).toEqual(want);
      const c = await s.count();
      expect(c).toEqual({ new: 25, process: 5, success: 0, error: 0, cancel: 0, retry: 0 });
      expect(await s.list({ status: "success" })).toEqual([]);
    } finally {
      await deletePrefix(s.prefix);
    }
  });

  it("multiplexes listeners of one uuid and unsubscribes each", async () => {
    const s = await factory.make();
    const r = rec();
    await s.add([r]);
    const a: string[] = [];
    const b: string[] = [];
    const ua = await s.subscribe(r.uuid, (e) => a.push(e.kind));
    const ub = await s.subscribe(r.uuid, (e) => b.push(e.kind));
    await s.begin(r.uuid, env(r));
    await waitFor("both listeners", 5000, (done) => {
      const t = setInterval(() => {
        if (a.includes("status") && b.includes("status")) {
          clearInterval(t);
          done(undefined);
        }
      }, 10);
    });
    await ua();
    await s.finish(r.uuid, 1, { status: "success", returning: 1 });
    await waitFor("final on b", 5000, (done) => {
      const t = setInterval(() => {
        if (b.includes("final")) {
          clearInterval(t);
          done(undefined);
        }
      }, 10);
    });
    expect(a).not.toContain("final");
    await ub();
  });

  it("rejects values JSON cannot carry and writes nothing", async () => {
    const s = await factory.make();
    const r = rec({ args: [10n] as unknown[] });
    await expect(s.add([rec(), r])).rejects.toBeInstanceOf(UnstorableValueError);
    expect(await s.get(r.uuid)).toBeNull();
    const ok = rec();
    await s.add([ok]);
    await s.begin(ok.uuid, env(ok));
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(s.finish(ok.uuid, 1, { status: "success", returning: cyclic })).rejects.toBeInstanceOf(
      UnstorableValueError,
    );
    expect(await s.get(ok.uuid)).toMatchObject({ status: "process" });
  });

  it("throws NotStartedError before start and after stop", async () => {
    const s = new RedisStorage({ url: REDIS_URL, prefix });
    await expect(s.get("x")).rejects.toBeInstanceOf(NotStartedError);
    await s.start(ctx);
    await s.start(ctx);
    await s.stop();
    await s.stop();
    await expect(s.get("x")).rejects.toBeInstanceOf(NotStartedError);
  });

  it("uses a given client and never closes it", async () => {
    const client = new Redis(REDIS_URL);
    try {
      const s = new RedisStorage({ client, prefix });
      await s.start(ctx);
      const r = rec();
      await s.add([r]);
      const un = await s.subscribe(r.uuid, () => {});
      await un();
      await s.stop();
      expect(client.status).toBe("ready");
      expect(await client.exists(`${prefix}:s:task:${r.uuid}`)).toBe(1);
    } finally {
      client.disconnect();
    }
  });

  it("fails fast with a ConnectionError when Redis is unreachable, with the reason and no credentials", async () => {
    const cases = [
      { url: "redis://:secret-pw@127.0.0.1:6390", reason: "ECONNREFUSED" },
      { url: "redis://no-such-user:secret-pw@127.0.0.1:6379", reason: "WRONGPASS" },
    ];
    for (const { url, reason } of cases) {
      const s = new RedisStorage({ url, prefix });
      const t0 = Date.now();
      const err = await s.start(ctx).catch((e: unknown) => e);
      expect(Date.now() - t0).toBeLessThan(5500);
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as ConnectionError).code).toBe("QTASKS_CONNECTION");
      expect((err as Error).message).toContain(reason);
      expect(inspect(err, { depth: 10 })).not.toContain("secret-pw");
      await expect(s.get("x")).rejects.toBeInstanceOf(NotStartedError);
      await s.stop();
    }
  });

  it("gives a prefix without a hash tag the app name as one", async () => {
    const plain = `qtasks-test-plain-${newUuid().slice(0, 8)}`;
    const s = await factory.make({ prefix: plain });
    try {
      expect(s.prefix).toBe(`${plain}{test}`);
      const r = rec();
      await s.add([r]);
      const admin = new Redis(REDIS_URL);
      try {
        expect(await admin.exists(`${plain}{test}:s:task:${r.uuid}`)).toBe(1);
      } finally {
        admin.disconnect();
      }
    } finally {
      await deletePrefix(s.prefix);
    }
  });

  it("keeps every key under its prefix, whatever the uuid", async () => {
    const p = randomPrefix("hostile-keys");
    const s = await factory.make({ prefix: p });
    try {
      const uuids = ["__proto__", "a:b", "{x}", "x".repeat(1024), "new\nline", "*", "[a-z]"];
      await s.add(uuids.map((uuid) => rec({ uuid })));
      for (const uuid of uuids) {
        await s.begin(uuid, env(rec({ uuid })));
        await s.appendOutput(uuid, 1, uuid);
        expect(await s.finish(uuid, 1, { status: "success", returning: uuid })).toBe(true);
        expect((await s.get(uuid))?.returning).toBe(uuid);
      }
      const keys = await scanAll(p);
      expect(keys.length).toBeGreaterThan(0);
      for (const k of keys) expect(k.startsWith(`${p}:`)).toBe(true);
    } finally {
      await deletePrefix(p);
    }
  });
});

async function scanAll(p: string): Promise<string[]> {
  const r = new Redis(REDIS_URL);
  try {
    const out: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(
        cursor,
        "MATCH",
        `${p.replace(/[*?[\]\\]/g, "\\$&")}:*`,
        "COUNT",
        1000,
      );
      cursor = next;
      out.push(...keys);
    } while (cursor !== "0");
    return out;
  } finally {
    r.disconnect();
  }
}
