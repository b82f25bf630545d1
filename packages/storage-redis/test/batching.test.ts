import type { NewTaskRecord, StorageEvent, TaskEnvelope } from "@qtasks/core";
import { ConnectionError, newUuid } from "@qtasks/core";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RedisStorage } from "../src/index";
import { StorageKeys } from "../src/keys";
import { ctx, deletePrefix, REDIS_URL, randomPrefix, StorageFactory, waitFor } from "./helpers";

const prefix = randomPrefix("batching");
const factory = new StorageFactory(prefix);
const clients: Redis[] = [];

afterAll(async () => {
  await factory.stopAll();
  for (const c of clients) c.disconnect();
  await deletePrefix(prefix);
});

function rec(): NewTaskRecord {
  return { uuid: newUuid(), taskName: "t.batch", priority: 0, args: [1], retries: 0, tags: [], extra: {} };
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

/**
 * A storage on a client of ours whose script calls (EVALSHA, or EVAL after NOSCRIPT) are counted by
 * wrapping `sendCommand`: the commands still go to the real Redis.
 */
async function counted(): Promise<{ s: RedisStorage; client: Redis; scriptCalls: () => number }> {
  const client = new Redis(REDIS_URL);
  clients.push(client);
  let n = 0;
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((cmd: { name: string }, ...rest: unknown[]) => {
    if (cmd.name === "evalsha" || cmd.name === "eval") n++;
    return (send as (...a: unknown[]) => unknown)(cmd, ...rest);
  }) as typeof client.sendCommand;
  const s = new RedisStorage({ client, prefix });
  await s.start(ctx);
  return { s, client, scriptCalls: () => n };
}

describe("RedisStorage batching", () => {
  it("200 concurrent begins get their own 200 results from one or two script calls", async () => {
    const { s, scriptCalls } = await counted();
    try {
      const warm = rec();
      await s.add([warm]);
      await s.begin(warm.uuid, env(warm)); // loads the script, so no NOSCRIPT retry below
      const recs = Array.from({ length: 200 }, rec);
      await s.add(recs);
      // One already begun once (attempt 2 next), one already final.
      await s.begin(recs[0]!.uuid, env(recs[0]!));
      const b1 = await s.begin(recs[1]!.uuid, env(recs[1]!));
      expect(b1.kind).toBe("started");
      if (b1.kind === "started")
        expect(await s.finish(recs[1]!.uuid, b1.attempt, { status: "success", returning: "done" })).toBe(
          true,
        );
      const before = scriptCalls();
      const results = await Promise.all(recs.map((r) => s.begin(r.uuid, env(r))));
      expect(scriptCalls() - before).toBeLessThanOrEqual(2);
      results.forEach((b, i) => {
        if (i === 1) {
          expect(b.kind).toBe("final");
          if (b.kind === "final") {
            expect(b.record.uuid).toBe(recs[1]!.uuid);
            expect(b.record.returning).toBe("done");
          }
          return;
        }
        expect(b.kind).toBe("started");
        if (b.kind !== "started") return;
        expect(b.record.uuid).toBe(recs[i]!.uuid);
        expect(b.record.status).toBe("process");
        expect(b.attempt).toBe(i === 0 ? 2 : 1);
        expect(b.record.args).toEqual([1]);
        expect(b.record.startedAt).toBeInstanceOf(Date);
      });
      const counts = await s.count();
      expect(counts.process).toBe(200); // warm + 199 of the batch
      expect(counts.new).toBe(0);
    } finally {
      await s.stop();
    }
  });

  it("more than a batch of calls in one tick is split, and every caller is answered", async () => {
    const { s, scriptCalls } = await counted();
    try {
      const recs = Array.from({ length: 1200 }, rec);
      await s.add(recs);
      const before = scriptCalls();
      const results = await Promise.all(recs.map((r) => s.begin(r.uuid, env(r))));
      // 1200 calls at most 500 per script: 3 calls (plus one EVAL if the script was not loaded).
      expect(scriptCalls() - before).toBeGreaterThanOrEqual(3);
      expect(scriptCalls() - before).toBeLessThanOrEqual(4);
      expect(results.map((b) => (b.kind === "started" ? b.record.uuid : "?"))).toEqual(
        recs.map((r) => r.uuid),
      );
    } finally {
      await s.stop();
    }
  });

  it("large results are not packed into one huge command", async () => {
    const { s, scriptCalls } = await counted();
    try {
      const recs = Array.from({ length: 6 }, rec);
      await s.add(recs);
      await Promise.all(recs.map((r) => s.begin(r.uuid, env(r))));
      const big = (i: number) => `${i}`.repeat(400_000);
      const before = scriptCalls();
      const done = await Promise.all(
        recs.map((r, i) => s.finish(r.uuid, 1, { status: "success", returning: big(i) })),
      );
      expect(done).toEqual(Array(6).fill(true));
      // 6 x 400 KB: the third reaches the 1 MiB cap and flushes, and so does the sixth (one call
      // without the cap).
      expect(scriptCalls() - before).toBeGreaterThanOrEqual(2);
      for (const [i, r] of recs.entries()) expect((await s.get(r.uuid))?.returning).toBe(big(i));
    } finally {
      await s.stop();
    }
  });

  it("mixed valid, stale, repeated and unknown finishes in one batch get the right booleans", async () => {
    const { s, scriptCalls } = await counted();
    try {
      const recs = Array.from({ length: 20 }, rec);
      await s.add(recs);
      const begun = await Promise.all(recs.map((r) => s.begin(r.uuid, env(r))));
      const attempts = begun.map((b) => (b.kind === "started" ? b.attempt : -1));
      expect(attempts.every((a) => a === 1)).toBe(true);
      const missing = newUuid();
      const before = scriptCalls();
      const calls: Promise<boolean>[] = [];
      const expected: boolean[] = [];
      recs.forEach((r, i) => {
        const stale = i % 3 === 1;
        calls.push(
          s.finish(r.uuid, stale ? 7 : attempts[i]!, {
            status: i % 2 ? "error" : "success",
            ...(i % 2 ? { traceback: `tb ${i}` } : { returning: i }),
          } as never),
        );
        expected.push(!stale);
      });
      // A second final write for record 0 in the same batch is refused: the first made it final.
      calls.push(s.finish(recs[0]!.uuid, 1, { status: "cancel", cancelReason: "late" }));
      expected.push(false);
      calls.push(s.finish(missing, 1, { status: "success", returning: null }));
      expected.push(false);
      expect(await Promise.all(calls)).toEqual(expected);
      expect(scriptCalls() - before).toBeLessThanOrEqual(2);
      for (const [i, r] of recs.entries()) {
        const got = await s.get(r.uuid);
        if (i % 3 === 1) {
          expect(got?.status).toBe("process");
        } else if (i % 2) {
          expect(got).toMatchObject({ status: "error", traceback: `tb ${i}` });
        } else {
          expect(got).toMatchObject({ status: "success", returning: i });
        }
      }
      expect(await s.get(missing)).toBeNull();
    } finally {
      await s.stop();
    }
  });

  it("begins for missing records in a batch create them from their envelopes", async () => {
    const s = await factory.make();
    const present = Array.from({ length: 5 }, rec);
    const absent = Array.from({ length: 5 }, rec);
    await s.add(present);
    const all = [...present, ...absent].sort(() => Math.random() - 0.5);
    const results = await Promise.all(all.map((r) => s.begin(r.uuid, env(r))));
    results.forEach((b, i) => {
      expect(b.kind).toBe("started");
      if (b.kind === "started") {
        expect(b.record.uuid).toBe(all[i]!.uuid);
        expect(b.attempt).toBe(1);
        expect(b.record.taskName).toBe("t.batch");
      }
    });
    expect((await s.count()).process).toBeGreaterThanOrEqual(10);
  });

  it("a batch of begins (some creating their records) and final writes leaves each record in exactly its status index", async () => {
    // Own prefix: the raw index zsets are read below, and other tests share `prefix`.
    const own = randomPrefix("batch-idx");
    const s = new RedisStorage({ url: REDIS_URL, prefix: own });
    await s.start(ctx);
    const raw = new Redis(REDIS_URL);
    clients.push(raw);
    try {
      const present = Array.from({ length: 30 }, rec);
      const absent = Array.from({ length: 10 }, rec); // created by their begin, in the same batch
      await s.add(present);
      const all = [...present, ...absent];
      const begun = await Promise.all(all.map((r) => s.begin(r.uuid, env(r))));
      const outcomes = ["success", "error", "cancel"] as const;
      const written = await Promise.all(
        all.map((r, i) => {
          const b = begun[i]!;
          if (b.kind !== "started") throw new Error(`not started: ${r.uuid}`);
          const status = outcomes[i % 3]!;
          return s.finish(
            r.uuid,
            b.attempt,
            status === "success"
              ? { status, returning: i }
              : status === "error"
                ? { status, traceback: "Error: x", errorName: "Error" }
                : { status, cancelReason: "stop" },
          );
        }),
      );
      expect(written.every(Boolean)).toBe(true);
      const keys = new StorageKeys(own);
      const members = async (key: string) => new Set(await raw.zrange(key, "0", "-1"));
      const ixOf = async (uuid: string) => (await raw.hget(keys.task(uuid), "ix"))!;
      const ix = await Promise.all(all.map((r) => ixOf(r.uuid)));
      expect(await members(keys.status("new"))).toEqual(new Set());
      expect(await members(keys.status("process"))).toEqual(new Set());
      for (const [k, status] of outcomes.entries())
        expect(await members(keys.status(status))).toEqual(new Set(ix.filter((_, i) => i % 3 === k)));
      expect(await members(keys.finished)).toEqual(new Set(ix));
      expect(await members(keys.all)).toEqual(new Set(ix));
      const counts = await s.count();
      expect([counts.new, counts.process, counts.success, counts.error, counts.cancel]).toEqual([
        0, 0, 14, 13, 13,
      ]);
    } finally {
      await s.stop();
      await deletePrefix(own);
    }
  });

  it("an item that fails in Redis fails only its own caller", async () => {
    const s = await factory.make();
    const admin = new Redis(REDIS_URL);
    clients.push(admin);
    const recs = Array.from({ length: 6 }, rec);
    await s.add(recs);
    // A key of the wrong type where a record hash should be: WRONGTYPE for that item only.
    const bad = newUuid();
    await admin.set(`${s.prefix}:s:task:${bad}`, "not a hash");
    const begins = await Promise.allSettled([
      ...recs.slice(0, 3).map((r) => s.begin(r.uuid, env(r))),
      s.begin(bad, env({ ...rec(), uuid: bad })),
      ...recs.slice(3).map((r) => s.begin(r.uuid, env(r))),
    ]);
    const failed = begins[3]!;
    expect(failed.status).toBe("rejected");
    if (failed.status === "rejected") {
      expect(failed.reason).toBeInstanceOf(ConnectionError);
      expect((failed.reason as ConnectionError).code).toBe("QTASKS_CONNECTION");
      expect(String((failed.reason as Error).message)).toMatch(/WRONGTYPE/);
    }
    const ok = begins.filter((_b, i) => i !== 3);
    expect(ok.every((b) => b.status === "fulfilled" && b.value.kind === "started")).toBe(true);
    const finishes = await Promise.allSettled([
      ...recs.map((r) => s.finish(r.uuid, 1, { status: "success", returning: r.uuid })),
      s.finish(bad, 1, { status: "success", returning: null }),
    ]);
    expect(finishes.slice(0, 6).map((f) => (f.status === "fulfilled" ? f.value : "rejected"))).toEqual(
      Array(6).fill(true),
    );
    expect(finishes[6]!.status).toBe("rejected");
    const outputs = await Promise.allSettled([
      s.appendOutput(recs[0]!.uuid, 1, "ignored: final"),
      s.appendOutput(bad, 1, "x"),
    ]);
    expect(outputs.map((o) => o.status)).toEqual(["fulfilled", "rejected"]);
    expect(await s.get(recs[5]!.uuid)).toMatchObject({ status: "success", returning: recs[5]!.uuid });
  });

  it("a batch's index moves that fail in Redis fail the items that moved, and only those", async () => {
    // Its own prefix: the broken index must not reach the other tests.
    const own = randomPrefix("batch-moves");
    const s = await factory.make({ prefix: own });
    const admin = new Redis(REDIS_URL);
    clients.push(admin);
    try {
      const [running, ...fresh] = Array.from({ length: 3 }, rec);
      await s.add([running!, ...fresh]);
      expect((await s.begin(running!.uuid, env(running!))).kind).toBe("started");
      // The process index replaced by a string: the new records' moves into it fail with WRONGTYPE;
      // a redelivered record already in `process` moves nowhere and begins again.
      await admin.del(`${s.prefix}:s:idx:process`);
      await admin.set(`${s.prefix}:s:idx:process`, "not a sorted set");
      const begins = await Promise.allSettled([running!, ...fresh].map((r) => s.begin(r.uuid, env(r))));
      expect(begins[0]).toMatchObject({ status: "fulfilled", value: { kind: "started", attempt: 2 } });
      for (const b of begins.slice(1)) {
        expect(b.status).toBe("rejected");
        if (b.status === "rejected") expect(String((b.reason as Error).message)).toMatch(/WRONGTYPE/);
      }
    } finally {
      await s.stop();
      await deletePrefix(own);
    }
  });

  it("a connection failure fails every caller of the batch with ConnectionError", async () => {
    const { s, client } = await counted();
    try {
      const recs = Array.from({ length: 20 }, rec);
      await s.add(recs);
      client.disconnect();
      const settled = await Promise.allSettled(recs.map((r) => s.begin(r.uuid, env(r))));
      for (const r of settled) {
        expect(r.status).toBe("rejected");
        if (r.status === "rejected") {
          expect(r.reason).toBeInstanceOf(ConnectionError);
          expect((r.reason as ConnectionError).code).toBe("QTASKS_CONNECTION");
        }
      }
    } finally {
      await s.stop();
    }
  });

  it("outputs appended in the same tick as the final write are kept, in order, each notified", async () => {
    const s = await factory.make();
    const r = rec();
    await s.add([r]);
    const b = await s.begin(r.uuid, env(r));
    if (b.kind !== "started") throw new Error("not started");
    const events: StorageEvent["kind"][] = [];
    let onFinal: (() => void) | undefined;
    const unsubscribe = await s.subscribe(r.uuid, (e) => {
      events.push(e.kind);
      if (e.kind === "final") onFinal?.();
    });
    const final = waitFor<void>("final event", 10_000, (resolve) => {
      onFinal = resolve;
    });
    // Not awaited one by one: all four calls land in the same flush.
    const done = await Promise.all([
      s.appendOutput(r.uuid, b.attempt, "a"),
      s.appendOutput(r.uuid, b.attempt, { b: 2 }),
      s.appendOutput(r.uuid, b.attempt, ["c"]),
      s.finish(r.uuid, b.attempt, { status: "success", returning: "end" }),
    ]);
    expect(done[3]).toBe(true);
    expect(await s.getOutputs(r.uuid)).toEqual(["a", { b: 2 }, ["c"]]);
    await final;
    expect(events).toEqual(["output", "output", "output", "final"]);
    await unsubscribe();
  });

  it("stop sends calls still waiting for their flush before closing", async () => {
    const s = new RedisStorage({ url: REDIS_URL, prefix });
    await s.start(ctx);
    const r = rec();
    await s.add([r]);
    const begun = s.begin(r.uuid, env(r));
    await s.stop();
    const b = await begun;
    expect(b.kind).toBe("started");
    const check = await factory.make();
    expect((await check.get(r.uuid))?.status).toBe("process");
  });
});
