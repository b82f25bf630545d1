import type { NewTaskRecord, TaskEnvelope } from "@qtasks/core";
import { newUuid } from "@qtasks/core";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { deletePrefix, REDIS_URL, randomPrefix, StorageFactory } from "./helpers";

const prefix = randomPrefix("values");
const factory = new StorageFactory(prefix);

afterAll(async () => {
  await factory.stopAll();
  await deletePrefix(prefix);
});

function rec(partial: Partial<NewTaskRecord> = {}): NewTaskRecord {
  return {
    uuid: newUuid(),
    taskName: "t.v",
    priority: 0,
    args: [],
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
    priority: 0,
    retries: 0,
    enqueuedAt: Date.now(),
  };
}

const HOSTILE = [
  "",
  "'",
  '"',
  "\\",
  "'; DROP TABLE x;--",
  "\r\n*1\r\n$4\r\nPING\r\n",
  "local x = redis.call('FLUSHALL')",
  "]]--[[",
  '{"v":1}',
  "null",
  "__proto__",
  "日本語のテキスト",
  "emoji 😀👍🏽 family 👨‍👩‍👧",
  "\u202eRTL\u202c",
  "line\u2028sep\u2029para",
  "\u0000nul\u0000",
  "\u0001\u001f\u007f",
  "lone \ud800 high and \udc00 low surrogates",
  "é".repeat(1000),
];

describe("RedisStorage values", () => {
  it("round-trips hostile strings, every JSON type and a 1 MB string exactly", async () => {
    const s = await factory.make();
    const big = "x😀".repeat(350_000); // ~1.4 MB of UTF-8
    const args: unknown[] = [
      ...HOSTILE,
      0,
      -1,
      1.5,
      Number.MAX_SAFE_INTEGER,
      -1e300,
      5e-324,
      true,
      false,
      null,
      [],
      {},
      [[[["deep"]]], { a: [{ b: { c: [null, 1, "2"] } }] }],
      { "key with spaces": 1, "": 4, 日本: 5, "a.b": 6, $set: 7 },
      JSON.parse('{"__proto__": {"polluted": "yes"}, "x": 1}'),
      big,
    ];
    const r = rec({
      args,
      tags: HOSTILE,
      extra: Object.fromEntries(HOSTILE.map((h, i) => [h, i])),
      taskName: "t.ü",
    });
    await s.add([r]);
    const got = await s.get(r.uuid);
    expect(got?.args).toEqual(args);
    expect(got?.tags).toEqual(HOSTILE);
    expect(got?.extra).toEqual(r.extra);
    expect(got?.taskName).toBe("t.ü");
    expect(Object.hasOwn(got!.args[got!.args.length - 2] as object, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await s.begin(r.uuid, env(r));
    for (const h of HOSTILE) await s.appendOutput(r.uuid, 1, h);
    expect(await s.getOutputs(r.uuid)).toEqual(HOSTILE);
    await s.finish(r.uuid, 1, { status: "success", returning: { big, hostile: HOSTILE } });
    const fin = await s.get(r.uuid);
    expect(fin?.returning).toEqual({ big, hostile: HOSTILE });

    for (const h of HOSTILE) {
      const e = rec();
      await s.add([e]);
      await s.begin(e.uuid, env(e));
      await s.finish(e.uuid, 1, {
        status: "error",
        traceback: h,
        errorName: h || "E",
        deadLetterReason: h || "r",
      });
      expect(await s.get(e.uuid)).toMatchObject({
        traceback: h,
        errorName: h || "E",
        deadLetterReason: h || "r",
      });
      const c = rec();
      await s.add([c]);
      await s.requestCancel(c.uuid, h);
      expect((await s.get(c.uuid))?.cancelReason).toBe(h);
    }
  });
});

describe("RedisStorage retention and purge", () => {
  it("purges finished records older than the cutoff, in batches, leaving the rest", async () => {
    const p = randomPrefix("purge");
    const s = await factory.make({ prefix: p });
    try {
      const old = Array.from({ length: 250 }, () => rec());
      const running = rec();
      await s.add([...old, running]);
      for (const r of old) {
        await s.begin(r.uuid, env(r));
        await s.appendOutput(r.uuid, 1, "o");
        await s.finish(r.uuid, 1, { status: "success", returning: 1 });
      }
      await s.begin(running.uuid, env(running));
      await new Promise((r) => setTimeout(r, 1100));
      const fresh = rec();
      await s.add([fresh]);
      await s.begin(fresh.uuid, env(fresh));
      await s.finish(fresh.uuid, 1, { status: "error", traceback: "x" });
      expect(await s.purge({ olderThanSeconds: 1, limit: 120 })).toBe(120);
      expect(await s.purge({ olderThanSeconds: 1 })).toBe(130);
      expect(await s.purge({ olderThanSeconds: 1 })).toBe(0);
      for (const r of old.slice(0, 5)) {
        expect(await s.get(r.uuid)).toBeNull();
        expect(await s.getOutputs(r.uuid)).toEqual([]);
      }
      expect((await s.get(running.uuid))?.status).toBe("process");
      expect((await s.get(fresh.uuid))?.status).toBe("error");
      expect(await s.count()).toEqual({ new: 0, process: 1, success: 0, error: 1, cancel: 0, retry: 0 });
      expect((await s.list()).map((r) => r.uuid)).toEqual([fresh.uuid, running.uuid]);
    } finally {
      await deletePrefix(p);
    }
  });

  it("expires finished records after retentionSeconds and drops them from counts and lists", async () => {
    const p = randomPrefix("retention");
    const s = await factory.make({ prefix: p, retentionSeconds: 1 });
    const admin = new Redis(REDIS_URL);
    try {
      const done = rec();
      const cancelled = rec();
      const kept = rec();
      await s.add([done, cancelled, kept]);
      await s.begin(done.uuid, env(done));
      await s.appendOutput(done.uuid, 1, "o");
      await s.finish(done.uuid, 1, { status: "success", returning: 1 });
      await s.requestCancel(cancelled.uuid, "no");
      const ttl = await admin.pttl(`${p}:s:task:${done.uuid}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(1000);
      expect(await admin.pttl(`${p}:s:out:${done.uuid}`)).toBeGreaterThan(0);
      expect(await admin.pttl(`${p}:s:task:${kept.uuid}`)).toBe(-1);
      await new Promise((r) => setTimeout(r, 1300));
      expect(await s.get(done.uuid)).toBeNull();
      expect(await s.get(cancelled.uuid)).toBeNull();
      expect(await s.count()).toEqual({ new: 1, process: 0, success: 0, error: 0, cancel: 0, retry: 0 });
      expect((await s.list()).map((r) => r.uuid)).toEqual([kept.uuid]);
      // Requeue takes a record out of retention.
      await s.begin(kept.uuid, env(kept));
      await s.finish(kept.uuid, 1, { status: "error", traceback: "x" });
      expect(await s.requeue(kept.uuid)).toBe(true);
      expect(await admin.pttl(`${p}:s:task:${kept.uuid}`)).toBe(-1);
    } finally {
      admin.disconnect();
      await deletePrefix(p);
    }
  });
});
