import {
  InvalidOptionError,
  type NewTaskRecord,
  NotStartedError,
  newUuid,
  type TaskEnvelope,
  UnstorableValueError,
} from "@qtasks/core";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mapUnstorable, PostgresStorage } from "../src/index";
import { admin, ctx, DATABASE_URL, dropSchema, makeStorage, randomSchema, waitFor } from "./helpers";

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

function rec(over: Partial<NewTaskRecord> = {}): NewTaskRecord {
  return { uuid: newUuid(), taskName: "t", priority: 0, args: [], retries: 0, tags: [], extra: {}, ...over };
}

function env(uuid: string, over: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return { v: 1, uuid, taskName: "t", args: [], priority: 0, retries: 0, enqueuedAt: Date.now(), ...over };
}

async function rowCount(where = ""): Promise<number> {
  const rows = await admin<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".tasks ${where}`);
  return rows[0]!.n;
}

const HOSTILE = [
  "'; DROP TABLE x;--",
  "$$; DROP SCHEMA public CASCADE; $$",
  "$tag$ body $tag$",
  `"double" 'single' \`back\``,
  "back\\slash \\\\ \\u0000-as-text \\x00 \\n",
  "line\nbreak\r\ttab",
  "emoji 🎉 ünïcödé 中文 \u2028\u2029",
  "%s %d {} $" + "{x} :1 $1 ?",
  "a".repeat(1024 * 1024),
];

describe("PostgresStorage", () => {
  it("round-trips hostile strings in args, results, errors, tags and extra exactly", async () => {
    for (const h of HOSTILE) {
      const uuid = newUuid();
      await s.add([
        rec({
          uuid,
          taskName: h.slice(0, 200),
          args: [h, { [h.slice(0, 50)]: h }],
          tags: [h],
          extra: { k: h },
        }),
      ]);
      const b = await s.begin(uuid, env(uuid));
      expect(b.kind).toBe("started");
      expect(await s.finish(uuid, 1, { status: "success", returning: { nested: [h, h] } })).toBe(true);
      const r = (await s.get(uuid))!;
      expect(r.args).toEqual([h, { [h.slice(0, 50)]: h }]);
      expect(r.returning).toEqual({ nested: [h, h] });
      expect(r.tags).toEqual([h]);
      expect(r.extra).toEqual({ k: h });
      expect(r.taskName).toBe(h.slice(0, 200));

      const u2 = newUuid();
      await s.add([rec({ uuid: u2 })]);
      await s.begin(u2, env(u2));
      expect(
        await s.finish(u2, 1, {
          status: "error",
          traceback: h,
          errorName: h.slice(0, 80),
          deadLetterReason: h,
        }),
      ).toBe(true);
      const e = (await s.get(u2))!;
      expect(e.traceback).toBe(h);
      expect(e.errorName).toBe(h.slice(0, 80));
      expect(e.deadLetterReason).toBe(h);

      const u3 = newUuid();
      await s.add([rec({ uuid: u3 })]);
      expect(await s.requestCancel(u3, h)).toBe("cancelled");
      expect((await s.get(u3))!.cancelReason).toBe(h);
    }
    // The schema is intact: nothing was executed from the data.
    expect(await rowCount()).toBe(HOSTILE.length * 3);
  });

  it("keeps JSON null, absent results and numbers apart", async () => {
    const cases: unknown[] = [null, 0, -1.5, 1e300, "", [], {}, false, [null, { a: null }]];
    for (const value of cases) {
      const uuid = newUuid();
      await s.add([rec({ uuid })]);
      await s.begin(uuid, env(uuid));
      await s.finish(uuid, 1, { status: "success", returning: value });
      const r = (await s.get(uuid))!;
      expect("returning" in r).toBe(true);
      expect(r.returning).toEqual(value);
    }
    const uuid = newUuid();
    await s.add([rec({ uuid })]);
    await s.begin(uuid, env(uuid));
    await s.finish(uuid, 1, { status: "success", returning: undefined });
    expect("returning" in (await s.get(uuid))!).toBe(false);
  });

  it("rejects \\u0000 and lone surrogates with UnstorableValueError and writes nothing", async () => {
    const before = await rowCount();
    const good = rec();
    const bad = rec({ args: ["ok", { deep: ["a\u0000b"] }] });
    // A bad record in a bulk add: the whole call rejects, the good record is not written either.
    await expect(s.add([good, bad])).rejects.toBeInstanceOf(UnstorableValueError);
    await expect(s.add([rec({ extra: { "k\u0000": 1 } })])).rejects.toBeInstanceOf(UnstorableValueError);
    await expect(s.add([rec({ taskName: "t\u0000" })])).rejects.toBeInstanceOf(UnstorableValueError);
    await expect(s.add([rec({ tags: ["\u0000"] })])).rejects.toBeInstanceOf(UnstorableValueError);
    await expect(s.add([rec({ args: ["\uD800"] })])).rejects.toBeInstanceOf(UnstorableValueError);
    const u = newUuid();
    await expect(s.begin(u, env(u, { args: ["\u0000"] }))).rejects.toBeInstanceOf(UnstorableValueError);
    expect(await rowCount()).toBe(before);
    expect(await s.get(good.uuid)).toBeNull();

    // Concurrent good adds in the same batch are not harmed by a bad one.
    const goods = Array.from({ length: 5 }, () => rec());
    const results = await Promise.allSettled([
      ...goods.map((g) => s.add([g])),
      s.add([rec({ args: ["x\u0000"] })]),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(5);
    expect(await rowCount()).toBe(before + 5);

    // A final write with a bad value leaves the record running, and a good write still succeeds.
    const uuid = newUuid();
    await s.add([rec({ uuid })]);
    await s.begin(uuid, env(uuid));
    await expect(s.finish(uuid, 1, { status: "success", returning: { x: "\u0000" } })).rejects.toBeInstanceOf(
      UnstorableValueError,
    );
    await expect(s.finish(uuid, 1, { status: "error", traceback: "boom\u0000" })).rejects.toBeInstanceOf(
      UnstorableValueError,
    );
    await expect(s.appendOutput(uuid, 1, ["\u0000"])).rejects.toBeInstanceOf(UnstorableValueError);
    expect((await s.get(uuid))!.status).toBe("process");
    expect(await s.getOutputs(uuid)).toEqual([]);
    expect(await s.finish(uuid, 1, { status: "success", returning: "fine" })).toBe(true);
  });

  it("maps PostgreSQL's own unstorable-value errors (22P05, 22021) to UnstorableValueError", async () => {
    const fromServer = await admin(`SELECT '"a\\u0000b"'::jsonb`).then(
      () => null,
      (e: unknown) => e,
    );
    expect((fromServer as { code?: string }).code).toBe("22P05");
    const mapped = mapUnstorable(fromServer);
    expect(mapped).toBeInstanceOf(UnstorableValueError);
    expect((mapped as Error).cause).toBe(fromServer);
    const other = new Error("x");
    expect(mapUnstorable(other)).toBe(other);
    expect(mapUnstorable(Object.assign(new Error("nul"), { code: "22021" }))).toBeInstanceOf(
      UnstorableValueError,
    );
  });

  it("coalesces 1000 concurrent adds into far fewer statements", async () => {
    const before = s.stats();
    const records = Array.from({ length: 1000 }, () => rec({ taskName: "bulk" }));
    await Promise.all(records.map((r) => s.add([r])));
    const after = s.stats();
    const statements = after.statements.add - before.statements.add;
    expect(after.items.add - before.items.add).toBe(1000);
    expect(statements).toBeGreaterThan(0);
    expect(statements).toBeLessThanOrEqual(20);
    expect(await rowCount("WHERE task_name = 'bulk'")).toBe(1000);

    // begin and finish batch as well, and every caller gets its own answer.
    const b0 = s.stats();
    const begun = await Promise.all(records.map((r) => s.begin(r.uuid, env(r.uuid))));
    expect(begun.every((b) => b.kind === "started" && b.attempt === 1)).toBe(true);
    const done = await Promise.all(
      records.map((r, i) => s.finish(r.uuid, i % 2 === 0 ? 1 : 7, { status: "success", returning: i })),
    );
    expect(done).toEqual(records.map((_, i) => i % 2 === 0));
    const b1 = s.stats();
    expect(b1.statements.begin - b0.statements.begin).toBeLessThanOrEqual(20);
    expect(b1.statements.finish - b0.statements.finish).toBeLessThanOrEqual(20);
    expect((await s.get(records[10]!.uuid))!.returning).toBe(10);
    expect((await s.get(records[11]!.uuid))!.status).toBe("process");
  });

  it("never puts two writes of one record in the same batch", async () => {
    const r = rec();
    await s.add([r]);
    // Two begins at once (a duplicate delivery): both run, one after the other.
    const [a, b] = await Promise.all([s.begin(r.uuid, env(r.uuid)), s.begin(r.uuid, env(r.uuid))]);
    expect([a.kind, b.kind]).toEqual(["started", "started"]);
    expect(new Set([(a as { attempt: number }).attempt, (b as { attempt: number }).attempt])).toEqual(
      new Set([1, 2]),
    );
    const [f1, f2] = await Promise.all([
      s.finish(r.uuid, 2, { status: "success", returning: 1 }),
      s.finish(r.uuid, 2, { status: "success", returning: 2 }),
    ]);
    expect([f1, f2].filter(Boolean)).toHaveLength(1);
  });

  it("guards final writes by attempt and finality", async () => {
    const r = rec();
    await s.add([r, { ...r, taskName: "other" }]);
    expect((await s.get(r.uuid))!.taskName).toBe("t"); // the existing record stays
    await s.begin(r.uuid, env(r.uuid));
    await s.begin(r.uuid, env(r.uuid));
    expect(await s.finish(r.uuid, 1, { status: "success", returning: "stale" })).toBe(false);
    expect(
      await s.finish(r.uuid, 2, { status: "retry", traceback: "tb", errorName: "E", retryUuid: newUuid() }),
    ).toBe(true);
    expect(await s.finish(r.uuid, 2, { status: "success", returning: "late" })).toBe(false);
    const got = (await s.get(r.uuid))!;
    expect(got).toMatchObject({ status: "retry", attempt: 2, traceback: "tb", errorName: "E" });
    expect(await s.finish(newUuid(), 1, { status: "success", returning: 1 })).toBe(false);
    expect(await s.finish("not-a-uuid", 1, { status: "success", returning: 1 })).toBe(false);
    expect(await s.get("not-a-uuid")).toBeNull();
  });

  it("requeues dead-lettered records and cancels by state", async () => {
    const r = rec();
    await s.add([r]);
    await s.begin(r.uuid, env(r.uuid));
    await s.finish(r.uuid, 1, { status: "error", traceback: "x", deadLetterReason: "delivery-limit" });
    expect(await s.requestCancel(r.uuid, "late")).toBe("final");
    expect(await s.requeue(r.uuid)).toBe(true);
    const back = (await s.get(r.uuid))!;
    expect(back.status).toBe("new");
    expect(back.traceback).toBeUndefined();
    expect(back.deadLetterReason).toBeUndefined();
    expect(back.finishedAt).toBeUndefined();
    expect(await s.requeue(r.uuid)).toBe(false);
    expect(await s.requestCancel(newUuid(), "x")).toBe("not-found");
  });

  it("lists newest first with filters, counts every status", async () => {
    const names = [`list-${newUuid()}`, `list-${newUuid()}`];
    const rs = Array.from({ length: 6 }, (_, i) => rec({ taskName: names[i % 2]! }));
    for (const r of rs) await s.add([r]);
    const listed = await s.list({ taskName: names[0] });
    expect(listed.map((x) => x.uuid)).toEqual([rs[4]!.uuid, rs[2]!.uuid, rs[0]!.uuid]);
    expect((await s.list({ taskName: names[1], limit: 1, offset: 1 })).map((x) => x.uuid)).toEqual([
      rs[3]!.uuid,
    ]);
    expect((await s.list({ status: "new", taskName: names[1] })).length).toBe(3);
    const counts = await s.count();
    expect(Object.keys(counts).sort()).toEqual(["cancel", "error", "new", "process", "retry", "success"]);
    expect(counts.new).toBe(await rowCount("WHERE status = 'new'"));
  });

  it("purges only old final records, in batches", async () => {
    const old = Array.from({ length: 7 }, () => rec({ taskName: "old" }));
    await s.add(old);
    for (const r of old) {
      await s.begin(r.uuid, env(r.uuid));
      await s.finish(r.uuid, 1, { status: "success", returning: null });
    }
    await s.appendOutput(old[0]!.uuid, 1, "too late"); // ignored: final
    await admin(
      `UPDATE "${schema}".tasks SET finished_at = now() - interval '2 hours' WHERE task_name = 'old'`,
    );
    const running = rec({ taskName: "old" });
    await s.add([running]);
    expect(await s.purge({ olderThanSeconds: 3600, limit: 3 })).toBe(3);
    expect(await s.purge({ olderThanSeconds: 3600, limit: 3 })).toBe(3);
    expect(await s.purge({ olderThanSeconds: 3600, limit: 3 })).toBe(1);
    expect(await s.purge({ olderThanSeconds: 3600, limit: 3 })).toBe(0);
    expect(await rowCount("WHERE task_name = 'old'")).toBe(1);
  });

  it("runs retention on a timer", async () => {
    const schema2 = randomSchema();
    const st = makeStorage(schema2, { retention: { olderThanSeconds: 0, intervalSeconds: 1, batchSize: 2 } });
    try {
      await st.start(ctx());
      const rs = Array.from({ length: 5 }, () => rec());
      await st.add(rs);
      for (const r of rs) {
        await st.begin(r.uuid, env(r.uuid));
        await st.finish(r.uuid, 1, { status: "cancel", cancelReason: "x" });
      }
      await st.add([rec()]);
      await waitFor(async () => (await st.count()).cancel === 0, 15000);
      expect((await st.count()).new).toBe(1);
    } finally {
      await st.stop();
      await dropSchema(schema2);
    }
  });

  it("uses an existing pool without ending it, and validates the schema name", async () => {
    const url = new URL(DATABASE_URL);
    if (!url.username) url.username = (await import("node:os")).userInfo().username;
    const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
    try {
      const st = new PostgresStorage({ client: pool, schema });
      await st.start(ctx());
      const r = rec();
      await st.add([r]);
      expect((await s.get(r.uuid))?.uuid).toBe(r.uuid);
      await st.stop();
      await st.stop();
      expect((await pool.query("SELECT 1 AS one")).rows[0].one).toBe(1);
      await expect(st.get(r.uuid)).rejects.toBeInstanceOf(NotStartedError);
    } finally {
      await pool.end();
    }
    for (const bad of ["Public", "a-b", 'x"; DROP', "", "1abc", "a".repeat(57)]) {
      expect(() => new PostgresStorage({ schema: bad })).toThrow(InvalidOptionError);
    }
    await expect(new PostgresStorage({ schema }).get(newUuid())).rejects.toBeInstanceOf(NotStartedError);
    // A stopped storage starts again with new connections (`url` is an alias of connectionString).
    const again = new PostgresStorage({ url: DATABASE_URL, schema });
    await again.start(ctx());
    await again.stop();
    await again.start(ctx());
    const r2 = rec();
    await again.add([r2]);
    expect((await again.get(r2.uuid))?.uuid).toBe(r2.uuid);
    await again.stop();
  });

  it("notifies subscribers across instances and stores outputs in order", async () => {
    const peer = makeStorage(schema);
    await peer.start(ctx());
    try {
      const r = rec();
      await s.add([r]);
      const events: string[] = [];
      const unsub = await peer.subscribe(r.uuid.toUpperCase(), (e) => events.push(e.kind));
      await s.begin(r.uuid, env(r.uuid));
      await s.appendOutput(r.uuid, 1, 1);
      await s.appendOutput(r.uuid, 1, { two: 2 });
      await s.appendOutput(r.uuid, 9, "stale");
      expect(await s.requestCancel(r.uuid, "please")).toBe("requested");
      await s.finish(r.uuid, 1, { status: "cancel", cancelReason: "please" });
      await waitFor(() => events.includes("final"));
      expect(events).toEqual(["status", "output", "output", "cancel", "final"]);
      expect(await peer.getOutputs(r.uuid)).toEqual([1, { two: 2 }]);
      expect(await peer.getOutputs(r.uuid, 1)).toEqual([{ two: 2 }]);
      await unsub();
    } finally {
      await peer.stop();
    }
  });

  it("LISTENs only while someone subscribes", async () => {
    const st = makeStorage(schema, { unlistenAfterSeconds: 0.2 });
    await st.start(ctx());
    try {
      expect(st.isListening).toBe(false);
      const r = rec();
      await s.add([r]);
      const events: string[] = [];
      const unsub = await st.subscribe(r.uuid, (e) => events.push(e.kind));
      expect(st.isListening).toBe(true);
      await s.begin(r.uuid, env(r.uuid));
      await waitFor(() => events.includes("status"));
      await unsub();
      await unsub();
      await waitFor(() => !st.isListening, 5000);
      // Subscribing again LISTENs again before it resolves.
      const again: string[] = [];
      const unsub2 = await st.subscribe(r.uuid, (e) => again.push(e.kind));
      expect(st.isListening).toBe(true);
      await s.finish(r.uuid, 1, { status: "success", returning: 1 });
      await waitFor(() => again.includes("final"));
      expect(events).toEqual(["status"]);
      await unsub2();
    } finally {
      await st.stop();
    }
  });
});
