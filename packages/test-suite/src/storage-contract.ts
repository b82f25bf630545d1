import type { NewTaskRecord, Storage, StorageEvent, TaskRecord, TaskStatus } from "@qtasks/core";
import { newUuid, TASK_STATUSES, TaskHandle, waitForFinal } from "@qtasks/core";
import { afterEach, describe, expect, it } from "vitest";
import { CapturingLogger } from "./capturing-logger";
import { envelopeFor, hostileArgs, makeEnvelope, makeNewRecord } from "./fixtures";
import { randomId, sleep, Teardown } from "./helpers";
import type { StorageContractOptions, StorageUnderTest } from "./types";

const TEST_TIMEOUT_MS = 20_000;
/** How long a notification may take to arrive (a real storage goes through the network). */
const EVENT_TIMEOUT_MS = 5000;
/** How long to keep listening before concluding that an event will not come. */
const QUIET_MS = 300;

interface Opened extends StorageUnderTest {
  logger: CapturingLogger;
  appName: string;
}

/** Collects the events of one subscription, and waits for them. */
class EventLog {
  readonly events: StorageEvent[] = [];
  private waiters: (() => void)[] = [];

  readonly listener = (event: StorageEvent): void => {
    this.events.push(event);
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  };

  kinds(): StorageEvent["kind"][] {
    return this.events.map((e) => e.kind);
  }

  /** Resolves with the first event of `kind` at or after index `from`; rejects after the timeout. */
  async waitFor(kind: StorageEvent["kind"], from = 0, timeoutMs = EVENT_TIMEOUT_MS): Promise<StorageEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find((e) => e.kind === kind);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no "${kind}" event within ${timeoutMs} ms (got: ${JSON.stringify(this.kinds())})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/**
 * Registers the Storage contract tests (`describe("Storage contract: <name>")`). Each test builds a
 * fresh storage with `options.create`, starts it, and stops and cleans it up afterwards, even when
 * the test fails. See the package README for what is checked.
 */
export function describeStorageContract(options: StorageContractOptions): void {
  describe(`Storage contract: ${options.name}`, () => {
    const teardown = new Teardown();
    afterEach(() => teardown.run());

    async function open(): Promise<Opened> {
      const under = await options.create();
      teardown.add(() => under.cleanup());
      teardown.add(() => under.storage.stop());
      const logger = new CapturingLogger();
      const appName = `contract-${randomId()}`;
      await under.storage.start({ appName, logger });
      return { ...under, logger, appName };
    }

    /** Adds one record and begins it: status `process`, attempt 1. */
    async function started(storage: Storage, partial: Partial<NewTaskRecord> = {}) {
      const rec = makeNewRecord(partial);
      await storage.add([rec]);
      const begun = await storage.begin(rec.uuid, envelopeFor(rec));
      if (begun.kind !== "started") throw new Error(`begin returned ${begun.kind} for a new record`);
      return { rec, attempt: begun.attempt };
    }

    async function mustGet(storage: Storage, uuid: string): Promise<TaskRecord> {
      const r = await storage.get(uuid);
      if (!r) throw new Error(`record ${uuid} not found`);
      return r;
    }

    // --- lifecycle ---------------------------------------------------------------------------------

    it(
      "start and stop are idempotent",
      async () => {
        const { storage, appName, logger } = await open();
        expect(typeof storage.name).toBe("string");
        expect(storage.name.length).toBeGreaterThan(0);
        await storage.start({ appName, logger });
        const rec = makeNewRecord();
        await storage.add([rec]);
        expect((await storage.get(rec.uuid))?.uuid).toBe(rec.uuid);
        await storage.stop();
        await storage.stop();
      },
      TEST_TIMEOUT_MS,
    );

    // --- add and get -------------------------------------------------------------------------------

    it(
      "add (bulk) creates new records with attempt 0 and every field kept",
      async () => {
        const { storage } = await open();
        const parent = newUuid();
        const createdAt = new Date(Date.now() - 60_000);
        const recs = [
          makeNewRecord({ taskName: "contract.one", priority: 3, args: [1, "two", { three: [3] }] }),
          makeNewRecord({
            taskName: "contract.two",
            priority: -7,
            args: [],
            retries: 2,
            retryOf: newUuid(),
            parentUuid: parent,
            tags: ["x", "y z"],
            extra: { k: "v", n: 1, deep: { list: [true, null] } },
            createdAt,
          }),
          makeNewRecord({ priority: 100 }),
        ];
        const before = Date.now();
        await storage.add(recs);
        for (const r of recs) {
          const got = await mustGet(storage, r.uuid);
          expect(got.uuid).toBe(r.uuid);
          expect(got.taskName).toBe(r.taskName);
          expect(got.priority).toBe(r.priority);
          expect(got.args).toEqual(r.args);
          expect(got.status).toBe("new");
          expect(got.attempt).toBe(0);
          expect(got.retries).toBe(r.retries);
          expect(got.retryOf).toBe(r.retryOf);
          expect(got.parentUuid).toBe(r.parentUuid);
          expect(got.tags).toEqual(r.tags);
          expect(got.extra).toEqual(r.extra);
          expect(got.createdAt).toBeInstanceOf(Date);
          expect(got.updatedAt).toBeInstanceOf(Date);
          expect(got.startedAt).toBeUndefined();
          expect(got.finishedAt).toBeUndefined();
          expect(got.returning).toBeUndefined();
          expect(got.traceback).toBeUndefined();
          expect(got.retryUuid).toBeUndefined();
          if (r.createdAt) expect(got.createdAt.getTime()).toBe(r.createdAt.getTime());
          else {
            expect(got.createdAt.getTime()).toBeGreaterThanOrEqual(before - 2000);
            expect(got.createdAt.getTime()).toBeLessThanOrEqual(Date.now() + 2000);
          }
        }
        await storage.add([]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "add keeps hostile arguments exactly (quotes, backslashes, SQL, $$, unicode, nesting, __proto__ keys)",
      async () => {
        const { storage } = await open();
        const args = hostileArgs();
        const extra = JSON.parse('{"__proto__": {"admin": true}, "note": "\'; DROP TABLE x;--", "$$": "$$"}');
        const rec = makeNewRecord({ args, extra, tags: ["'", '"', "\\", "$$", "日本"] });
        await storage.add([rec]);
        const got = await mustGet(storage, rec.uuid);
        expect(got.args).toEqual(hostileArgs());
        expect(got.args).toHaveLength(args.length);
        const protoCarrier = got.args[got.args.length - 1] as Record<string, unknown>;
        expect(Object.hasOwn(protoCarrier, "__proto__")).toBe(true);
        expect(Object.getPrototypeOf(protoCarrier)).toBe(Object.prototype);
        expect(Object.getOwnPropertyDescriptor(protoCarrier, "__proto__")?.value).toEqual({
          polluted: "yes",
        });
        expect(Object.hasOwn(got.extra, "__proto__")).toBe(true);
        expect(got.extra).toEqual(JSON.parse(JSON.stringify(extra)));
        expect(got.tags).toEqual(rec.tags);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(({} as Record<string, unknown>).admin).toBeUndefined();

        // Still exact after going through begin and a final write.
        const begun = await storage.begin(rec.uuid, envelopeFor(rec));
        expect(begun.kind).toBe("started");
        expect(await storage.finish(rec.uuid, 1, { status: "success", returning: hostileArgs() })).toBe(true);
        const done = await mustGet(storage, rec.uuid);
        expect(done.args).toEqual(hostileArgs());
        expect(done.returning).toEqual(hostileArgs());
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "add is idempotent: an existing uuid is left untouched, new ones in the same call are added",
      async () => {
        const { storage } = await open();
        const { rec, attempt } = await started(storage, { args: ["original"] });
        const other = makeNewRecord({ args: ["other"] });
        await storage.add([{ ...rec, args: ["changed"], taskName: "contract.changed", priority: 9 }, other]);
        const got = await mustGet(storage, rec.uuid);
        expect(got.status).toBe("process");
        expect(got.attempt).toBe(attempt);
        expect(got.args).toEqual(["original"]);
        expect(got.taskName).toBe(rec.taskName);
        expect(got.priority).toBe(rec.priority);
        expect((await mustGet(storage, other.uuid)).args).toEqual(["other"]);
        await storage.add([rec]);
        expect((await storage.count()).new).toBe(1);
        expect((await storage.count()).process).toBe(1);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a value it cannot keep (NUL character) is either kept exactly or rejected with UnstorableValueError, writing nothing",
      async () => {
        const { storage } = await open();
        const nul = "before\u0000after";
        const rec = makeNewRecord({ args: [nul, { [nul]: nul }] });
        let kept: boolean;
        try {
          await storage.add([rec]);
          kept = true;
        } catch (error) {
          expect(error).toMatchObject({ name: "UnstorableValueError", code: "QTASKS_UNSTORABLE_VALUE" });
          kept = false;
        }
        if (kept) expect((await mustGet(storage, rec.uuid)).args).toEqual([nul, { [nul]: nul }]);
        else expect(await storage.get(rec.uuid)).toBeNull();

        const { rec: running, attempt } = await started(storage);
        try {
          const ok = await storage.finish(running.uuid, attempt, {
            status: "success",
            returning: { v: nul },
          });
          expect(ok).toBe(true);
          expect((await mustGet(storage, running.uuid)).returning).toEqual({ v: nul });
        } catch (error) {
          expect(error).toMatchObject({ name: "UnstorableValueError", code: "QTASKS_UNSTORABLE_VALUE" });
          const after = await mustGet(storage, running.uuid);
          expect(after.status).toBe("process");
          expect(after.returning).toBeUndefined();
          // The attempt can still write a storable outcome.
          expect(await storage.finish(running.uuid, attempt, { status: "success", returning: "ok" })).toBe(
            true,
          );
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "records are copies: changing what was passed in or read out changes nothing stored",
      async () => {
        const { storage } = await open();
        const rec = makeNewRecord({ args: [{ a: 1 }], tags: ["t"], extra: { e: 1 } });
        await storage.add([rec]);
        (rec.args[0] as { a: number }).a = 2;
        rec.tags.push("u");
        rec.extra.e = 2;
        const got = await mustGet(storage, rec.uuid);
        expect(got.args).toEqual([{ a: 1 }]);
        expect(got.tags).toEqual(["t"]);
        expect(got.extra).toEqual({ e: 1 });
        (got.args[0] as { a: number }).a = 3;
        got.status = "success";
        const again = await mustGet(storage, rec.uuid);
        expect(again.args).toEqual([{ a: 1 }]);
        expect(again.status).toBe("new");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "get returns null for an unknown uuid",
      async () => {
        const { storage } = await open();
        expect(await storage.get(newUuid())).toBeNull();
      },
      TEST_TIMEOUT_MS,
    );

    // --- begin -------------------------------------------------------------------------------------

    it(
      "begin increments attempt, sets status process and startedAt, and returns the record",
      async () => {
        const { storage } = await open();
        const rec = makeNewRecord({ args: ["a"] });
        await storage.add([rec]);
        const created = await mustGet(storage, rec.uuid);
        const b1 = await storage.begin(rec.uuid, envelopeFor(rec));
        expect(b1.kind).toBe("started");
        if (b1.kind !== "started") return;
        expect(b1.attempt).toBe(1);
        expect(b1.record.status).toBe("process");
        expect(b1.record.attempt).toBe(1);
        expect(b1.record.args).toEqual(["a"]);
        const got = await mustGet(storage, rec.uuid);
        expect(got.status).toBe("process");
        expect(got.attempt).toBe(1);
        expect(got.startedAt).toBeInstanceOf(Date);
        expect(got.updatedAt.getTime()).toBeGreaterThanOrEqual(created.updatedAt.getTime());
        expect(got.createdAt.getTime()).toBe(created.createdAt.getTime());

        // A redelivery begins again: the attempt is the fencing token.
        const b2 = await storage.begin(rec.uuid, envelopeFor(rec));
        expect(b2).toMatchObject({ kind: "started", attempt: 2 });
        expect((await mustGet(storage, rec.uuid)).attempt).toBe(2);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "begin creates a missing record from the envelope",
      async () => {
        const { storage } = await open();
        const envelope = makeEnvelope({
          taskName: "contract.orphan",
          args: ["x", { y: [1, 2] }, "'; DROP TABLE x;--"],
          priority: 4,
          retries: 1,
          retryOf: newUuid(),
          parentUuid: newUuid(),
          tags: ["orphan"],
          extra: { from: "envelope" },
        });
        const begun = await storage.begin(envelope.uuid, envelope);
        expect(begun).toMatchObject({ kind: "started", attempt: 1 });
        const got = await mustGet(storage, envelope.uuid);
        expect(got).toMatchObject({
          uuid: envelope.uuid,
          taskName: "contract.orphan",
          args: envelope.args,
          priority: 4,
          retries: 1,
          retryOf: envelope.retryOf,
          parentUuid: envelope.parentUuid,
          tags: ["orphan"],
          extra: { from: "envelope" },
          status: "process",
          attempt: 1,
        });
        expect(got.startedAt).toBeInstanceOf(Date);
        expect(got.createdAt).toBeInstanceOf(Date);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "begin returns final for a final record and changes nothing",
      async () => {
        const { storage } = await open();
        const { rec, attempt } = await started(storage);
        expect(await storage.finish(rec.uuid, attempt, { status: "success", returning: 42 })).toBe(true);
        const done = await mustGet(storage, rec.uuid);
        const again = await storage.begin(rec.uuid, envelopeFor(rec));
        expect(again.kind).toBe("final");
        expect(again.record.status).toBe("success");
        expect(again.record.returning).toBe(42);
        const after = await mustGet(storage, rec.uuid);
        expect(after.attempt).toBe(attempt);
        expect(after.status).toBe("success");
        expect(after.updatedAt.getTime()).toBe(done.updatedAt.getTime());
      },
      TEST_TIMEOUT_MS,
    );

    // --- finish ------------------------------------------------------------------------------------

    it(
      "finish refuses a stale attempt and changes nothing; the current attempt writes",
      async () => {
        const { storage } = await open();
        const { rec } = await started(storage);
        const b2 = await storage.begin(rec.uuid, envelopeFor(rec));
        expect(b2).toMatchObject({ kind: "started", attempt: 2 });
        const before = await mustGet(storage, rec.uuid);
        expect(await storage.finish(rec.uuid, 1, { status: "success", returning: "stale" })).toBe(false);
        expect(await storage.finish(rec.uuid, 1, { status: "error", traceback: "stale" })).toBe(false);
        expect(await storage.finish(rec.uuid, 3, { status: "success", returning: "future" })).toBe(false);
        expect(await mustGet(storage, rec.uuid)).toEqual(before);
        expect(await storage.finish(rec.uuid, 2, { status: "success", returning: "fresh" })).toBe(true);
        const after = await mustGet(storage, rec.uuid);
        expect(after.status).toBe("success");
        expect(after.returning).toBe("fresh");
        expect(after.attempt).toBe(2);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "finish refuses a second final write, and an unknown uuid",
      async () => {
        const { storage } = await open();
        const { rec, attempt } = await started(storage);
        expect(await storage.finish(rec.uuid, attempt, { status: "success", returning: 1 })).toBe(true);
        const done = await mustGet(storage, rec.uuid);
        expect(await storage.finish(rec.uuid, attempt, { status: "success", returning: 2 })).toBe(false);
        expect(await storage.finish(rec.uuid, attempt, { status: "error", traceback: "late" })).toBe(false);
        expect(await storage.finish(rec.uuid, attempt, { status: "cancel", cancelReason: "late" })).toBe(
          false,
        );
        expect(await mustGet(storage, rec.uuid)).toEqual(done);
        expect(await storage.finish(newUuid(), 1, { status: "success", returning: 1 })).toBe(false);
        expect(await storage.get(newUuid())).toBeNull();
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "success keeps returning values of every JSON type",
      async () => {
        const { storage } = await open();
        const values: unknown[] = [
          42,
          0,
          -1.25,
          "text",
          "",
          "'; DROP TABLE x;--",
          true,
          false,
          null,
          [],
          {},
          [1, "two", null, [3], { four: 4 }],
          { a: { b: { c: [1, { d: "e" }] } }, "key 'q'": "\\" },
          hostileArgs(),
        ];
        for (const returning of values) {
          const { rec, attempt } = await started(storage);
          const t0 = Date.now();
          expect(await storage.finish(rec.uuid, attempt, { status: "success", returning })).toBe(true);
          const got = await mustGet(storage, rec.uuid);
          expect(got.status).toBe("success");
          expect(got.returning).toEqual(returning);
          expect(got.finishedAt).toBeInstanceOf(Date);
          expect(got.finishedAt!.getTime()).toBeGreaterThanOrEqual(got.startedAt!.getTime());
          expect(got.finishedAt!.getTime()).toBeGreaterThanOrEqual(t0 - 2000);
          expect(got.updatedAt.getTime()).toBeGreaterThanOrEqual(got.startedAt!.getTime());
          expect(got.traceback).toBeUndefined();
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "error keeps traceback, errorName and deadLetterReason",
      async () => {
        const { storage } = await open();
        const traceback = "Error: boom 'quoted' \"dq\" \\ $$\n    at handler (file.ts:1:1)\n    at 日本";
        const a = await started(storage);
        expect(
          await storage.finish(a.rec.uuid, a.attempt, {
            status: "error",
            traceback,
            errorName: "TypeError",
            deadLetterReason: "delivery-limit",
          }),
        ).toBe(true);
        const ga = await mustGet(storage, a.rec.uuid);
        expect(ga).toMatchObject({
          status: "error",
          traceback,
          errorName: "TypeError",
          deadLetterReason: "delivery-limit",
        });
        expect(ga.finishedAt).toBeInstanceOf(Date);
        expect(ga.returning).toBeUndefined();

        const b = await started(storage);
        expect(await storage.finish(b.rec.uuid, b.attempt, { status: "error", traceback: "plain" })).toBe(
          true,
        );
        const gb = await mustGet(storage, b.rec.uuid);
        expect(gb.status).toBe("error");
        expect(gb.traceback).toBe("plain");
        expect(gb.errorName).toBeUndefined();
        expect(gb.deadLetterReason).toBeUndefined();
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "cancel keeps its reason; retry keeps traceback, errorName and retryUuid",
      async () => {
        const { storage } = await open();
        const c = await started(storage);
        expect(
          await storage.finish(c.rec.uuid, c.attempt, { status: "cancel", cancelReason: "user 'said' stop" }),
        ).toBe(true);
        const gc = await mustGet(storage, c.rec.uuid);
        expect(gc).toMatchObject({ status: "cancel", cancelReason: "user 'said' stop" });
        expect(gc.finishedAt).toBeInstanceOf(Date);

        const r = await started(storage);
        const next = newUuid();
        expect(
          await storage.finish(r.rec.uuid, r.attempt, {
            status: "retry",
            traceback: "Error: flaky",
            errorName: "FlakyError",
            retryUuid: next,
          }),
        ).toBe(true);
        const gr = await mustGet(storage, r.rec.uuid);
        expect(gr).toMatchObject({
          status: "retry",
          traceback: "Error: flaky",
          errorName: "FlakyError",
          retryUuid: next,
        });
        expect(gr.finishedAt).toBeInstanceOf(Date);
        // retry is final for this record.
        expect((await storage.begin(r.rec.uuid, envelopeFor(r.rec))).kind).toBe("final");
      },
      TEST_TIMEOUT_MS,
    );

    // --- notifications -----------------------------------------------------------------------------

    it(
      "subscribe receives status, output, cancel and final events for its uuid only",
      async () => {
        const { storage } = await open();
        const rec = makeNewRecord();
        const other = makeNewRecord();
        await storage.add([rec, other]);
        const log = new EventLog();
        const otherLog = new EventLog();
        const unsub = await storage.subscribe(rec.uuid, log.listener);
        const unsubOther = await storage.subscribe(other.uuid, otherLog.listener);

        const begun = await storage.begin(rec.uuid, envelopeFor(rec));
        if (begun.kind !== "started") throw new Error("not started");
        await log.waitFor("status");
        await storage.appendOutput(rec.uuid, begun.attempt, "out");
        await log.waitFor("output");
        expect(await storage.requestCancel(rec.uuid, "stop please")).toBe("requested");
        await log.waitFor("cancel");
        expect(
          await storage.finish(rec.uuid, begun.attempt, { status: "cancel", cancelReason: "stop please" }),
        ).toBe(true);
        const final = await log.waitFor("final");
        expect(final.uuid).toBe(rec.uuid);
        for (const e of log.events) {
          expect(e.uuid).toBe(rec.uuid);
          expect(["status", "output", "cancel", "final", "resync"]).toContain(e.kind);
        }
        const ordered = log.kinds().filter((k) => k !== "resync");
        expect(ordered.indexOf("status")).toBeLessThan(ordered.indexOf("final"));

        // Nothing happened to `other`; its listener heard nothing but (at most) a resync.
        await sleep(QUIET_MS);
        expect(otherLog.kinds().filter((k) => k !== "resync")).toEqual([]);
        await unsub();
        await unsubOther();
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a final event arrives after finish, and none after unsubscribe",
      async () => {
        const { storage } = await open();
        const { rec, attempt } = await started(storage);
        const log = new EventLog();
        const gone = new EventLog();
        const sentinel = new EventLog();
        const unsub = await storage.subscribe(rec.uuid, log.listener);
        const unsubGone = await storage.subscribe(rec.uuid, gone.listener);
        await storage.subscribe(rec.uuid, sentinel.listener);
        await unsubGone();

        await storage.appendOutput(rec.uuid, attempt, 1);
        expect(await storage.finish(rec.uuid, attempt, { status: "success", returning: 1 })).toBe(true);
        await log.waitFor("final");
        await sentinel.waitFor("final");
        await sleep(QUIET_MS);
        expect(gone.kinds().filter((k) => k !== "resync")).toEqual([]);

        // Unsubscribing the last listener of a uuid, and twice, is fine.
        await unsub();
        await unsub();
        const n = log.events.length;
        const r2 = await started(storage);
        await storage.finish(r2.rec.uuid, r2.attempt, { status: "success", returning: 2 });
        await sleep(QUIET_MS);
        expect(log.events.length).toBe(n);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a peer instance on the same data sees the other instance's records and events",
      async (ctx) => {
        const { storage, peer, appName } = await open();
        if (!peer) ctx.skip("not applicable: the factory provides no peer()");
        const other = await peer!();
        teardown.add(() => other.stop());
        await other.start({ appName, logger: new CapturingLogger() });

        const rec = makeNewRecord({ args: ["shared"] });
        await storage.add([rec]);
        expect((await other.get(rec.uuid))?.args).toEqual(["shared"]);

        const log = new EventLog();
        const unsub = await other.subscribe(rec.uuid, log.listener);
        const begun = await storage.begin(rec.uuid, envelopeFor(rec));
        if (begun.kind !== "started") throw new Error("not started");
        await log.waitFor("status");
        await storage.appendOutput(rec.uuid, begun.attempt, { n: 1 });
        await log.waitFor("output");
        expect(await other.getOutputs(rec.uuid)).toEqual([{ n: 1 }]);
        expect(await other.requestCancel(rec.uuid, "from the peer")).toBe("requested");
        const back = new EventLog();
        await storage.subscribe(rec.uuid, back.listener);
        expect(await storage.finish(rec.uuid, begun.attempt, { status: "success", returning: "done" })).toBe(
          true,
        );
        await log.waitFor("final");
        await back.waitFor("final");
        expect((await other.get(rec.uuid))?.returning).toBe("done");
        // The stale attempt guard holds across instances too.
        expect(await other.finish(rec.uuid, begun.attempt, { status: "success", returning: "again" })).toBe(
          false,
        );
        await unsub();
      },
      TEST_TIMEOUT_MS,
    );

    // --- outputs -----------------------------------------------------------------------------------

    it(
      "appendOutput / getOutputs keep order and values, and honour from",
      async () => {
        const { storage } = await open();
        const { rec, attempt } = await started(storage);
        const outs: unknown[] = ["a", { b: 2 }, [3], null, 0, false, "'; DROP TABLE x;--"];
        for (const o of outs) await storage.appendOutput(rec.uuid, attempt, o);
        expect(await storage.getOutputs(rec.uuid)).toEqual(outs);
        expect(await storage.getOutputs(rec.uuid, 0)).toEqual(outs);
        expect(await storage.getOutputs(rec.uuid, 2)).toEqual(outs.slice(2));
        expect(await storage.getOutputs(rec.uuid, outs.length)).toEqual([]);
        expect(await storage.getOutputs(rec.uuid, outs.length + 5)).toEqual([]);
        expect(await storage.getOutputs(newUuid())).toEqual([]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "appendOutput for a stale attempt or after the final write is ignored",
      async () => {
        const { storage } = await open();
        const { rec } = await started(storage);
        const b2 = await storage.begin(rec.uuid, envelopeFor(rec));
        if (b2.kind !== "started") throw new Error("not started");
        await storage.appendOutput(rec.uuid, b2.attempt - 1, "stale");
        await storage.appendOutput(rec.uuid, b2.attempt, "current");
        expect(await storage.finish(rec.uuid, b2.attempt, { status: "success", returning: null })).toBe(true);
        await storage.appendOutput(rec.uuid, b2.attempt, "late");
        const outs = await storage.getOutputs(rec.uuid);
        expect(outs).toContain("current");
        expect(outs).not.toContain("stale");
        expect(outs).not.toContain("late");
      },
      TEST_TIMEOUT_MS,
    );

    // --- cancel and requeue ------------------------------------------------------------------------

    it(
      "requestCancel on a new record cancels it at once; it will not run",
      async () => {
        const { storage } = await open();
        const rec = makeNewRecord();
        await storage.add([rec]);
        const log = new EventLog();
        await storage.subscribe(rec.uuid, log.listener);
        expect(await storage.requestCancel(rec.uuid, "not needed")).toBe("cancelled");
        await log.waitFor("final");
        const got = await mustGet(storage, rec.uuid);
        expect(got.status).toBe("cancel");
        expect(got.cancelReason).toBe("not needed");
        expect(got.finishedAt).toBeInstanceOf(Date);
        expect((await storage.begin(rec.uuid, envelopeFor(rec))).kind).toBe("final");
        expect(await storage.requestCancel(rec.uuid, "again")).toBe("final");
        expect((await mustGet(storage, rec.uuid)).cancelReason).toBe("not needed");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "requestCancel on a running record is stored and notified; the worker then ends it cancel",
      async () => {
        const { storage } = await open();
        const { rec, attempt } = await started(storage);
        const log = new EventLog();
        await storage.subscribe(rec.uuid, log.listener);
        expect(await storage.requestCancel(rec.uuid, "too slow")).toBe("requested");
        await log.waitFor("cancel");
        const got = await mustGet(storage, rec.uuid);
        expect(got.status).toBe("process");
        expect(got.cancelReason).toBe("too slow");
        expect(await storage.finish(rec.uuid, attempt, { status: "cancel", cancelReason: "too slow" })).toBe(
          true,
        );
        expect((await mustGet(storage, rec.uuid)).status).toBe("cancel");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "requestCancel on a final record changes nothing; on an unknown uuid it is not-found",
      async () => {
        const { storage } = await open();
        const { rec, attempt } = await started(storage);
        expect(await storage.finish(rec.uuid, attempt, { status: "success", returning: "kept" })).toBe(true);
        const done = await mustGet(storage, rec.uuid);
        expect(await storage.requestCancel(rec.uuid, "too late")).toBe("final");
        expect(await mustGet(storage, rec.uuid)).toEqual(done);
        expect(await storage.requestCancel(newUuid(), "who?")).toBe("not-found");
        expect(await storage.requestCancel("__proto__", "who?")).toBe("not-found");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "requeue puts an error record back to new (notified); a later begin gets a higher attempt",
      async () => {
        const { storage } = await open();
        const { rec, attempt } = await started(storage, { args: ["keep me"] });
        expect(
          await storage.finish(rec.uuid, attempt, {
            status: "error",
            traceback: "dead",
            deadLetterReason: "delivery-limit",
          }),
        ).toBe(true);
        const log = new EventLog();
        await storage.subscribe(rec.uuid, log.listener);
        expect(await storage.requeue(rec.uuid)).toBe(true);
        await log.waitFor("status");
        const got = await mustGet(storage, rec.uuid);
        expect(got.status).toBe("new");
        expect(got.args).toEqual(["keep me"]);
        expect(got.finishedAt).toBeUndefined();
        const again = await storage.begin(rec.uuid, envelopeFor(rec));
        expect(again.kind).toBe("started");
        if (again.kind === "started") {
          expect(again.attempt).toBeGreaterThan(attempt);
          // The old attempt cannot write over the new run.
          expect(await storage.finish(rec.uuid, attempt, { status: "success", returning: "stale" })).toBe(
            false,
          );
          expect(await storage.finish(rec.uuid, again.attempt, { status: "success", returning: "ok" })).toBe(
            true,
          );
        }
        // Only error records can be requeued.
        expect(await storage.requeue(rec.uuid)).toBe(false);
        const fresh = makeNewRecord();
        await storage.add([fresh]);
        expect(await storage.requeue(fresh.uuid)).toBe(false);
        const running = await started(storage);
        expect(await storage.requeue(running.rec.uuid)).toBe(false);
        expect(await storage.requeue(newUuid())).toBe(false);
      },
      TEST_TIMEOUT_MS,
    );

    // --- list, count, purge ------------------------------------------------------------------------

    it(
      "list returns records newest first, filtered by status and taskName, with limit and offset",
      async () => {
        const { storage } = await open();
        const base = Date.now() - 100_000;
        const recs = Array.from({ length: 8 }, (_, i) =>
          makeNewRecord({
            taskName: i % 2 === 0 ? "contract.alpha" : "contract.beta",
            args: [i],
            createdAt: new Date(base + i * 1000),
          }),
        );
        await storage.add(recs);
        // Records 0, 1 and 2 end successful, 3 is running.
        for (const i of [0, 1, 2]) {
          const b = await storage.begin(recs[i]!.uuid, envelopeFor(recs[i]!));
          if (b.kind !== "started") throw new Error("not started");
          expect(await storage.finish(recs[i]!.uuid, b.attempt, { status: "success", returning: i })).toBe(
            true,
          );
        }
        await storage.begin(recs[3]!.uuid, envelopeFor(recs[3]!));

        const idx = (rs: TaskRecord[]) => rs.map((r) => r.args[0]);
        expect(idx(await storage.list())).toEqual([7, 6, 5, 4, 3, 2, 1, 0]);
        expect(idx(await storage.list({ taskName: "contract.alpha" }))).toEqual([6, 4, 2, 0]);
        expect(idx(await storage.list({ status: "success" }))).toEqual([2, 1, 0]);
        expect(idx(await storage.list({ status: "new" }))).toEqual([7, 6, 5, 4]);
        expect(idx(await storage.list({ status: "process" }))).toEqual([3]);
        expect(idx(await storage.list({ status: "success", taskName: "contract.beta" }))).toEqual([1]);
        expect(idx(await storage.list({ status: "error" }))).toEqual([]);
        expect(idx(await storage.list({ taskName: "contract.none" }))).toEqual([]);
        expect(idx(await storage.list({ taskName: "'; DROP TABLE x;--" }))).toEqual([]);
        expect(idx(await storage.list({ limit: 3 }))).toEqual([7, 6, 5]);
        expect(idx(await storage.list({ limit: 3, offset: 3 }))).toEqual([4, 3, 2]);
        expect(idx(await storage.list({ limit: 3, offset: 6 }))).toEqual([1, 0]);
        expect(idx(await storage.list({ offset: 8 }))).toEqual([]);
        expect(idx(await storage.list({ taskName: "contract.beta", limit: 1, offset: 1 }))).toEqual([5]);
        const full = (await storage.list({ status: "success", limit: 1 }))[0]!;
        expect(full).toEqual(await mustGet(storage, recs[2]!.uuid));
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "list filters by tag and by creation time, with the other filters, limit and offset",
      async () => {
        const { storage } = await open();
        const base = Date.now() - 100_000;
        const at = (i: number) => new Date(base + i * 1000);
        // Even records are tagged "red", every third "blue"; 0..9 one second apart.
        const recs = Array.from({ length: 10 }, (_, i) =>
          makeNewRecord({
            taskName: i < 5 ? "contract.alpha" : "contract.beta",
            args: [i],
            tags: [...(i % 2 === 0 ? ["red"] : []), ...(i % 3 === 0 ? ["blue"] : [])],
            createdAt: at(i),
          }),
        );
        await storage.add(recs);
        for (const i of [2, 6, 7]) {
          const b = await storage.begin(recs[i]!.uuid, envelopeFor(recs[i]!));
          if (b.kind !== "started") throw new Error("not started");
          await storage.finish(recs[i]!.uuid, b.attempt, { status: "success", returning: i });
        }
        const idx = (rs: TaskRecord[]) => rs.map((r) => r.args[0]);
        expect(idx(await storage.list({ tag: "red" }))).toEqual([8, 6, 4, 2, 0]);
        expect(idx(await storage.list({ tag: "blue" }))).toEqual([9, 6, 3, 0]);
        expect(idx(await storage.list({ tag: "green" }))).toEqual([]);
        expect(idx(await storage.list({ tag: "red", status: "success" }))).toEqual([6, 2]);
        expect(idx(await storage.list({ tag: "red", taskName: "contract.alpha" }))).toEqual([4, 2, 0]);
        expect(idx(await storage.list({ tag: "red", limit: 2, offset: 1 }))).toEqual([6, 4]);
        // createdSince is inclusive, createdBefore exclusive.
        expect(idx(await storage.list({ createdSince: at(7) }))).toEqual([9, 8, 7]);
        expect(idx(await storage.list({ createdBefore: at(3) }))).toEqual([2, 1, 0]);
        expect(idx(await storage.list({ createdSince: at(2), createdBefore: at(7) }))).toEqual([
          6, 5, 4, 3, 2,
        ]);
        expect(
          idx(await storage.list({ createdSince: at(2), createdBefore: at(7), limit: 2, offset: 2 })),
        ).toEqual([4, 3]);
        expect(idx(await storage.list({ status: "success", createdSince: at(3) }))).toEqual([7, 6]);
        expect(idx(await storage.list({ status: "new", createdBefore: at(5), tag: "blue" }))).toEqual([3, 0]);
        expect(
          idx(
            await storage.list({
              taskName: "contract.beta",
              createdBefore: at(9),
              tag: "red",
              status: "success",
            }),
          ),
        ).toEqual([6]);
        expect(idx(await storage.list({ createdSince: at(20) }))).toEqual([]);
        await expect(storage.list({ createdSince: new Date(Number.NaN) })).rejects.toThrow(/createdSince/);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "list orders by createdAt (newest first), not by insertion order",
      async () => {
        const { storage } = await open();
        const base = Date.now() - 100_000;
        const middle = makeNewRecord({ args: ["middle"], createdAt: new Date(base + 1000) });
        const newest = makeNewRecord({ args: ["newest"], createdAt: new Date(base + 2000) });
        const oldest = makeNewRecord({ args: ["oldest"], createdAt: new Date(base) });
        await storage.add([middle, newest]);
        await storage.add([oldest]);
        expect((await storage.list()).map((r) => r.args[0])).toEqual(["newest", "middle", "oldest"]);
        expect((await storage.list({ limit: 1, offset: 1 }))[0]?.args).toEqual(["middle"]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "count has every status, zero where none, and follows transitions",
      async () => {
        const { storage } = await open();
        const zero = await storage.count();
        expect(Object.keys(zero).sort()).toEqual([...TASK_STATUSES].sort());
        for (const s of TASK_STATUSES) expect(zero[s]).toBe(0);

        const finishAs = async (outcome: Parameters<Storage["finish"]>[2]) => {
          const { rec, attempt } = await started(storage);
          expect(await storage.finish(rec.uuid, attempt, outcome)).toBe(true);
        };
        await storage.add([makeNewRecord(), makeNewRecord(), makeNewRecord()]);
        await started(storage);
        await finishAs({ status: "success", returning: 1 });
        await finishAs({ status: "success", returning: 2 });
        await finishAs({ status: "error", traceback: "x" });
        await finishAs({ status: "cancel", cancelReason: "x" });
        await finishAs({ status: "retry", traceback: "x", retryUuid: newUuid() });
        const cancelled = makeNewRecord();
        await storage.add([cancelled]);
        await storage.requestCancel(cancelled.uuid, "x");

        const expected: Record<TaskStatus, number> = {
          new: 3,
          process: 1,
          success: 2,
          error: 1,
          cancel: 2,
          retry: 1,
        };
        expect(await storage.count()).toEqual(expected);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "purge deletes only final records finished longer ago than the cutoff",
      async () => {
        const { storage } = await open();
        const old = await started(storage);
        expect(await storage.finish(old.rec.uuid, old.attempt, { status: "success", returning: 1 })).toBe(
          true,
        );
        const oldCancelled = makeNewRecord();
        await storage.add([oldCancelled]);
        expect(await storage.requestCancel(oldCancelled.uuid, "x")).toBe("cancelled");
        await sleep(2200);
        const recent = await started(storage);
        expect(
          await storage.finish(recent.rec.uuid, recent.attempt, { status: "error", traceback: "x" }),
        ).toBe(true);
        const waiting = makeNewRecord({ createdAt: new Date(Date.now() - 3_600_000) });
        await storage.add([waiting]);
        const running = await started(storage, { createdAt: new Date(Date.now() - 3_600_000) });

        expect(await storage.purge({ olderThanSeconds: 3600 })).toBe(0);
        expect(await storage.purge({ olderThanSeconds: 1 })).toBe(2);
        expect(await storage.get(old.rec.uuid)).toBeNull();
        expect(await storage.get(oldCancelled.uuid)).toBeNull();
        expect((await storage.get(recent.rec.uuid))?.status).toBe("error");
        expect((await storage.get(waiting.uuid))?.status).toBe("new");
        expect((await storage.get(running.rec.uuid))?.status).toBe("process");
        const counts = await storage.count();
        expect(counts.success).toBe(0);
        expect(counts.cancel).toBe(0);
        expect(counts.error).toBe(1);
        expect((await storage.list()).map((r) => r.uuid).sort()).toEqual(
          [recent.rec.uuid, waiting.uuid, running.rec.uuid].sort(),
        );
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "purge respects limit and never deletes records that are not final",
      async () => {
        const { storage } = await open();
        const done: string[] = [];
        for (let i = 0; i < 3; i++) {
          const s = await started(storage);
          expect(await storage.finish(s.rec.uuid, s.attempt, { status: "success", returning: i })).toBe(true);
          done.push(s.rec.uuid);
        }
        const waiting = makeNewRecord({ createdAt: new Date(Date.now() - 3_600_000) });
        await storage.add([waiting]);
        const running = await started(storage);
        await sleep(1100);
        expect(await storage.purge({ olderThanSeconds: 0, limit: 2 })).toBe(2);
        expect(await storage.purge({ olderThanSeconds: 0, limit: 2 })).toBe(1);
        expect(await storage.purge({ olderThanSeconds: 0 })).toBe(0);
        for (const uuid of done) expect(await storage.get(uuid)).toBeNull();
        expect((await storage.get(waiting.uuid))?.status).toBe("new");
        expect((await storage.get(running.rec.uuid))?.status).toBe("process");
      },
      TEST_TIMEOUT_MS,
    );

    // --- waiting -----------------------------------------------------------------------------------

    it(
      "waitForFinal wakes when the record is finished (no polling needed)",
      async () => {
        const { storage } = await open();
        const { rec, attempt } = await started(storage);
        const t0 = Date.now();
        const waiting = waitForFinal(storage, rec.uuid, Date.now() + 10_000, 10, undefined);
        await sleep(300);
        expect(await storage.finish(rec.uuid, attempt, { status: "success", returning: { ok: true } })).toBe(
          true,
        );
        const got = await waiting;
        expect(got.status).toBe("success");
        expect(got.returning).toEqual({ ok: true });
        expect(Date.now() - t0).toBeLessThan(300 + EVENT_TIMEOUT_MS);

        // Already final: resolves at once.
        const again = await waitForFinal(storage, rec.uuid, Date.now() + 10_000, 10, undefined);
        expect(again.status).toBe("success");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "waitForFinal times out with WaitTimeoutError when nothing finishes",
      async () => {
        const { storage } = await open();
        const { rec } = await started(storage);
        const t0 = Date.now();
        const error = await waitForFinal(storage, rec.uuid, Date.now() + 500, 0.5, undefined).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toMatchObject({
          name: "WaitTimeoutError",
          code: "QTASKS_WAIT_TIMEOUT",
          uuid: rec.uuid,
          lastStatus: "process",
        });
        expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
        // The task itself was not touched.
        expect((await mustGet(storage, rec.uuid)).status).toBe("process");
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "TaskHandle.wait follows a retry to the final record of the last attempt",
      async () => {
        const { storage } = await open();
        const first = await started(storage, { taskName: "contract.flaky" });
        const secondUuid = newUuid();
        const handle = new TaskHandle(first.rec.uuid, "contract.flaky", storage, 10);
        const waiting = handle.wait();
        await sleep(100);
        await storage.add([
          makeNewRecord({
            uuid: secondUuid,
            taskName: "contract.flaky",
            retries: 1,
            retryOf: first.rec.uuid,
          }),
        ]);
        expect(
          await storage.finish(first.rec.uuid, first.attempt, {
            status: "retry",
            traceback: "flaky",
            retryUuid: secondUuid,
          }),
        ).toBe(true);
        await sleep(100);
        const b = await storage.begin(
          secondUuid,
          makeEnvelope({ uuid: secondUuid, taskName: "contract.flaky" }),
        );
        if (b.kind !== "started") throw new Error("not started");
        expect(
          await storage.finish(secondUuid, b.attempt, { status: "success", returning: "second time lucky" }),
        ).toBe(true);
        const final = await waiting;
        expect(final.uuid).toBe(secondUuid);
        expect(final.returning).toBe("second time lucky");
        expect(await handle.result({ timeout: 5 })).toBe("second time lucky");
      },
      TEST_TIMEOUT_MS,
    );
  });
}
