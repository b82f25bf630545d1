import type { Broker, Delivery, TaskEnvelope } from "@qtasks/core";
import { afterEach, describe, expect, it } from "vitest";
import { CapturingLogger } from "./capturing-logger";
import { HOSTILE_STRINGS, makeEnvelope } from "./fixtures";
import { claimN, eventually, randomId, sleep, Teardown } from "./helpers";
import type { BrokerContractOptions, BrokerUnderTest } from "./types";

/** Per-test timeout: the slowest test waits for a lease twice. */
const TEST_TIMEOUT_MS = 20_000;
/** Allowance for a loaded machine on top of the broker's own tolerance, for "soon after" checks. */
const SCHEDULING_SLACK_MS = 1000;
/** How much earlier than due a delayed or leased envelope may show up (timer and clock granularity). */
const EARLY_MS = 100;
/** Upper bound for "promptly" (a blocked claim waking up, an abort, a stop). */
const PROMPT_MS = 3000;

interface Opened extends BrokerUnderTest {
  logger: CapturingLogger;
  appName: string;
}

/**
 * Registers the Broker contract tests (`describe("Broker contract: <name>")`). Each test builds a
 * fresh broker with `options.create`, starts it, and stops and cleans it up afterwards, even when the
 * test fails. See the package README for what is checked.
 */
export function describeBrokerContract(options: BrokerContractOptions): void {
  const lateMs = (options.delayToleranceMs ?? 50) + SCHEDULING_SLACK_MS;

  describe(`Broker contract: ${options.name}`, () => {
    const teardown = new Teardown();
    afterEach(() => teardown.run());

    async function open(o: { leaseSeconds?: number; deliveryLimit?: number } = {}): Promise<Opened> {
      const under = await options.create({
        leaseSeconds: o.leaseSeconds ?? 1,
        deliveryLimit: o.deliveryLimit ?? 5,
      });
      teardown.add(() => under.cleanup());
      teardown.add(() => under.broker.stop());
      const logger = new CapturingLogger();
      const appName = `contract-${randomId()}`;
      await under.broker.start({ appName, logger });
      return { ...under, logger, appName };
    }

    const uuids = (ds: Delivery[]) => ds.map((d) => d.envelope.uuid);
    const nothingClaimable = async (broker: Broker, waitSeconds = 0) => {
      expect(await broker.claim(10, { waitSeconds })).toEqual([]);
    };

    // --- basics ------------------------------------------------------------------------------------

    it(
      "exposes its name, leaseSeconds and deliveryLimit as configured",
      async () => {
        const { broker } = await open({ leaseSeconds: 1, deliveryLimit: 3 });
        expect(typeof broker.name).toBe("string");
        expect(broker.name.length).toBeGreaterThan(0);
        expect(broker.leaseSeconds).toBe(1);
        expect(broker.deliveryLimit).toBe(3);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "start and stop are idempotent",
      async () => {
        const { broker, logger, appName } = await open();
        await broker.start({ appName, logger });
        const e = makeEnvelope();
        await broker.publish([{ envelope: e }]);
        expect(uuids(await claimN(broker, 1))).toEqual([e.uuid]);
        await broker.stop();
        await broker.stop();
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "publish then claim returns the envelope unchanged, with deliveryCount 1 and a token",
      async () => {
        const { broker } = await open();
        const envelope: TaskEnvelope = makeEnvelope({
          taskName: "contract.full-envelope",
          args: [
            ...HOSTILE_STRINGS,
            1,
            2.5,
            -3,
            true,
            false,
            null,
            [],
            {},
            { nested: { list: [1, "two", null] } },
          ],
          priority: 7,
          retries: 2,
          parentUuid: makeEnvelope().uuid,
          retryOf: makeEnvelope().uuid,
          tags: ["a", "b c", "日本"],
          extra: { trace: "x'y\"z", n: 1, deep: { ok: true } },
        });
        await broker.publish([{ envelope }]);
        const [d] = await claimN(broker, 1);
        expect(d).toBeDefined();
        expect(d!.envelope).toEqual(envelope);
        expect(d!.deliveryCount).toBe(1);
        expect(typeof d!.token).toBe("string");
        expect(d!.token.length).toBeGreaterThan(0);
        expect(await broker.ack(d!)).toBe(true);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "claim with waitSeconds 0 returns [] at once on an empty queue",
      async () => {
        const { broker } = await open();
        const t0 = Date.now();
        expect(await broker.claim(5, { waitSeconds: 0 })).toEqual([]);
        expect(Date.now() - t0).toBeLessThan(PROMPT_MS);
      },
      TEST_TIMEOUT_MS,
    );

    // --- ordering ----------------------------------------------------------------------------------

    it(
      "claim hands out the highest priority first, FIFO within a priority",
      async () => {
        const { broker } = await open();
        const sent = [0, 5, -3, 5, 0].map((priority, i) =>
          makeEnvelope({ priority, args: [`#${i} p${priority}`] }),
        );
        // One publish per envelope, in order: the order of arrival defines FIFO.
        for (const envelope of sent) await broker.publish([{ envelope }]);
        const got = await claimN(broker, 5, 5000, 10);
        expect(got.map((d) => d.envelope.args[0])).toEqual(["#1 p5", "#3 p5", "#0 p0", "#4 p0", "#2 p-3"]);
        for (const d of got) expect(await broker.ack(d)).toBe(true);
        await nothingClaimable(broker);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "priority order holds for a bulk publish and the extreme priorities -100 and 100",
      async () => {
        const { broker } = await open();
        const priorities = [-100, 100, 0, 100, -100, 1, -1, 0];
        const sent = priorities.map((priority, i) => makeEnvelope({ priority, args: [i] }));
        await broker.publish(sent.map((envelope) => ({ envelope })));
        const got = await claimN(broker, sent.length, 5000, 3);
        expect(got.map((d) => d.envelope.args[0])).toEqual([1, 3, 5, 2, 7, 6, 0, 4]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a bulk publish of 50 envelopes delivers each exactly once, FIFO",
      async () => {
        const { broker } = await open({ leaseSeconds: 10 });
        const sent = Array.from({ length: 50 }, (_, i) => makeEnvelope({ args: [i] }));
        await broker.publish(sent.map((envelope) => ({ envelope })));
        const got = await claimN(broker, 50, 10_000, 7);
        expect(uuids(got)).toEqual(sent.map((e) => e.uuid));
        expect(new Set(got.map((d) => d.token)).size).toBe(50);
        await nothingClaimable(broker);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a bulk publish is all-or-error: an invalid delay rejects it and publishes nothing",
      async () => {
        const { broker } = await open();
        const good = [makeEnvelope(), makeEnvelope()];
        await expect(
          broker.publish([
            { envelope: good[0]! },
            { envelope: good[1]!, delay: 0.5 },
            { envelope: makeEnvelope(), delay: -1 },
          ]),
        ).rejects.toThrow();
        await nothingClaimable(broker, 1);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "claim(max) returns at most max, and the rest on later claims",
      async () => {
        const { broker } = await open({ leaseSeconds: 10 });
        const sent = Array.from({ length: 5 }, (_, i) => makeEnvelope({ args: [i] }));
        await broker.publish(sent.map((envelope) => ({ envelope })));
        const first = await broker.claim(2, { waitSeconds: 2 });
        expect(first.length).toBeGreaterThanOrEqual(1);
        expect(first.length).toBeLessThanOrEqual(2);
        const one = await broker.claim(1, { waitSeconds: 2 });
        expect(one.length).toBe(1);
        const rest = await claimN(broker, 5 - first.length - 1, 5000, 2);
        expect(uuids([...first, ...one, ...rest])).toEqual(sent.map((e) => e.uuid));
      },
      TEST_TIMEOUT_MS,
    );

    // --- blocking ----------------------------------------------------------------------------------

    it(
      "claim blocks while empty and returns promptly when an envelope is published during the wait",
      async () => {
        const { broker } = await open();
        const e = makeEnvelope();
        const t0 = Date.now();
        const claiming = broker.claim(1, { waitSeconds: 10 });
        await sleep(300);
        await broker.publish([{ envelope: e }]);
        const got = await claiming;
        const elapsed = Date.now() - t0;
        expect(uuids(got)).toEqual([e.uuid]);
        expect(elapsed).toBeGreaterThanOrEqual(250);
        expect(elapsed).toBeLessThan(300 + PROMPT_MS);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "claim returns [] after waitSeconds when nothing arrives",
      async () => {
        const { broker } = await open();
        const t0 = Date.now();
        expect(await broker.claim(1, { waitSeconds: 1 })).toEqual([]);
        const elapsed = Date.now() - t0;
        expect(elapsed).toBeGreaterThanOrEqual(1000 - EARLY_MS);
        expect(elapsed).toBeLessThan(1000 + PROMPT_MS);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "claim returns [] promptly when its AbortSignal aborts (or is already aborted)",
      async () => {
        const { broker } = await open();
        const ac = new AbortController();
        const t0 = Date.now();
        const claiming = broker.claim(1, { waitSeconds: 10, signal: ac.signal });
        await sleep(200);
        ac.abort();
        expect(await claiming).toEqual([]);
        expect(Date.now() - t0).toBeLessThan(200 + PROMPT_MS);

        const t1 = Date.now();
        expect(await broker.claim(1, { waitSeconds: 10, signal: AbortSignal.abort() })).toEqual([]);
        expect(Date.now() - t1).toBeLessThan(PROMPT_MS);

        // The broker is still usable after an aborted claim.
        const e = makeEnvelope();
        await broker.publish([{ envelope: e }]);
        expect(uuids(await claimN(broker, 1))).toEqual([e.uuid]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "stop() wakes a blocked claim, which returns []",
      async () => {
        const { broker } = await open();
        const t0 = Date.now();
        const claiming = broker.claim(1, { waitSeconds: 10 });
        await sleep(200);
        await broker.stop();
        expect(await claiming).toEqual([]);
        expect(Date.now() - t0).toBeLessThan(200 + PROMPT_MS);
      },
      TEST_TIMEOUT_MS,
    );

    // --- delays ------------------------------------------------------------------------------------

    it(
      "a delayed envelope is not claimable before its delay, and a blocked claim gets it soon after",
      async () => {
        const { broker } = await open();
        const e = makeEnvelope();
        const t0 = Date.now();
        await broker.publish([{ envelope: e, delay: 1 }]);
        const t1 = Date.now();
        await nothingClaimable(broker);
        const got = await broker.claim(1, { waitSeconds: 1 + (lateMs + PROMPT_MS) / 1000 });
        const at = Date.now();
        expect(uuids(got)).toEqual([e.uuid]);
        expect(at - t0).toBeGreaterThanOrEqual(1000 - EARLY_MS);
        expect(at - t1).toBeLessThanOrEqual(1000 + lateMs);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a delayed envelope does not overtake a ready one, whatever its priority",
      async () => {
        const { broker } = await open();
        const delayed = makeEnvelope({ priority: 100 });
        const ready = makeEnvelope({ priority: -100 });
        await broker.publish([{ envelope: delayed, delay: 0.5 }, { envelope: ready }]);
        expect(uuids(await broker.claim(5, { waitSeconds: 0.1 }))).toEqual([ready.uuid]);
        expect(uuids(await claimN(broker, 1, 0.5 * 1000 + lateMs + PROMPT_MS))).toEqual([delayed.uuid]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a bulk publish with mixed delays makes each envelope claimable at its own time",
      async () => {
        const { broker } = await open({ leaseSeconds: 10 });
        const now = makeEnvelope({ args: ["now"] });
        const half = makeEnvelope({ args: ["half"] });
        const one = makeEnvelope({ args: ["one"] });
        const t0 = Date.now();
        await broker.publish([
          { envelope: one, delay: 1 },
          { envelope: now },
          { envelope: half, delay: 0.5 },
        ]);
        const seen: { label: unknown; at: number }[] = [];
        const deadline = t0 + 1000 + lateMs + PROMPT_MS;
        while (seen.length < 3 && Date.now() < deadline) {
          for (const d of await broker.claim(3, { waitSeconds: 0.2 })) {
            seen.push({ label: d.envelope.args[0], at: Date.now() - t0 });
          }
        }
        expect(seen.map((s) => s.label)).toEqual(["now", "half", "one"]);
        expect(seen[1]!.at).toBeGreaterThanOrEqual(500 - EARLY_MS);
        expect(seen[2]!.at).toBeGreaterThanOrEqual(1000 - EARLY_MS);
      },
      TEST_TIMEOUT_MS,
    );

    // --- leases ------------------------------------------------------------------------------------

    it(
      "an envelope neither acked nor released is redelivered after its lease, with deliveryCount 2",
      async () => {
        const { broker } = await open({ leaseSeconds: 1 });
        const e = makeEnvelope();
        await broker.publish([{ envelope: e }]);
        const t0 = Date.now();
        const [first] = await claimN(broker, 1);
        expect(first?.deliveryCount).toBe(1);
        // Still leased: not claimable right away.
        await nothingClaimable(broker);
        const again = await claimN(broker, 1, 1000 + lateMs + PROMPT_MS);
        const at = Date.now();
        expect(uuids(again)).toEqual([e.uuid]);
        expect(again[0]!.deliveryCount).toBe(2);
        expect(again[0]!.envelope).toEqual(e);
        expect(again[0]!.token).not.toBe(first!.token);
        expect(at - t0).toBeGreaterThanOrEqual(1000 - EARLY_MS);
        expect(await broker.ack(again[0]!)).toBe(true);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "extendLease keeps a delivery leased past its original lease",
      async () => {
        const { broker } = await open({ leaseSeconds: 1 });
        const e = makeEnvelope();
        await broker.publish([{ envelope: e }]);
        const [d] = await claimN(broker, 1);
        expect(d).toBeDefined();
        // Renew every 300 ms for 2 s (twice the lease), checking nobody else can claim it meanwhile.
        const until = Date.now() + 2000;
        while (Date.now() < until) {
          await sleep(300);
          expect(await broker.extendLease(d!)).toBe(true);
          await nothingClaimable(broker);
        }
        expect(await broker.ack(d!)).toBe(true);
        await nothingClaimable(broker, 0.2);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "ack removes the envelope for good; a second ack is refused",
      async () => {
        const { broker } = await open({ leaseSeconds: 1 });
        const e = makeEnvelope();
        await broker.publish([{ envelope: e }]);
        const [d] = await claimN(broker, 1);
        expect(await broker.ack(d!)).toBe(true);
        expect(await broker.ack(d!)).toBe(false);
        // Past the lease and a sweep: still gone.
        await nothingClaimable(broker, 1 + lateMs / 1000);
        expect(await broker.extendLease(d!)).toBe(false);
        expect(await broker.release(d!)).toBe(false);
        expect(await broker.deadLetter(d!, "late")).toBe(false);
        expect(await broker.listDeadLetters()).toEqual([]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a stale delivery cannot ack, release, dead-letter or extend, and does not disturb the newer claim",
      async () => {
        const { broker } = await open({ leaseSeconds: 1 });
        const e = makeEnvelope();
        await broker.publish([{ envelope: e }]);
        const [stale] = await claimN(broker, 1);
        const [fresh] = await claimN(broker, 1, 1000 + lateMs + PROMPT_MS);
        expect(fresh?.envelope.uuid).toBe(e.uuid);
        expect(fresh?.deliveryCount).toBe(2);

        expect(await broker.ack(stale!)).toBe(false);
        expect(await broker.release(stale!)).toBe(false);
        expect(await broker.release(stale!, { delay: 0.5 })).toBe(false);
        expect(await broker.deadLetter(stale!, "stale")).toBe(false);
        expect(await broker.extendLease(stale!)).toBe(false);

        // Nothing was requeued or dead-lettered by the stale calls; the newer claim still owns it.
        await nothingClaimable(broker);
        expect(await broker.listDeadLetters()).toEqual([]);
        expect(await broker.extendLease(fresh!)).toBe(true);
        expect(await broker.ack(fresh!)).toBe(true);
        await nothingClaimable(broker, 0.6);
      },
      TEST_TIMEOUT_MS,
    );

    // --- release -----------------------------------------------------------------------------------

    it(
      "release makes the envelope claimable again at once, and the redelivery is counted",
      async () => {
        const { broker } = await open({ leaseSeconds: 10 });
        const e = makeEnvelope();
        await broker.publish([{ envelope: e }]);
        const [d1] = await claimN(broker, 1);
        expect(await broker.release(d1!)).toBe(true);
        const [d2] = await claimN(broker, 1, PROMPT_MS);
        expect(d2?.envelope).toEqual(e);
        expect(d2?.deliveryCount).toBe(2);
        // The released delivery is no longer ours.
        expect(await broker.ack(d1!)).toBe(false);
        expect(await broker.ack(d2!)).toBe(true);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "release with a delay keeps the envelope away until the delay has passed",
      async () => {
        const { broker } = await open({ leaseSeconds: 10 });
        const e = makeEnvelope();
        await broker.publish([{ envelope: e }]);
        const [d1] = await claimN(broker, 1);
        const t0 = Date.now();
        expect(await broker.release(d1!, { delay: 1 })).toBe(true);
        const t1 = Date.now();
        await nothingClaimable(broker);
        const [d2] = await claimN(broker, 1, 1000 + lateMs + PROMPT_MS);
        const at = Date.now();
        expect(d2?.envelope.uuid).toBe(e.uuid);
        expect(d2?.deliveryCount).toBe(2);
        expect(at - t0).toBeGreaterThanOrEqual(1000 - EARLY_MS);
        expect(at - t1).toBeLessThanOrEqual(1000 + lateMs + PROMPT_MS);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "the broker keeps delivering past deliveryLimit and counts on (the worker decides)",
      async () => {
        const { broker } = await open({ leaseSeconds: 10, deliveryLimit: 2 });
        const e = makeEnvelope();
        await broker.publish([{ envelope: e }]);
        for (let n = 1; n <= 4; n++) {
          const [d] = await claimN(broker, 1, PROMPT_MS);
          expect(d?.envelope.uuid).toBe(e.uuid);
          expect(d?.deliveryCount).toBe(n);
          if (n < 4) expect(await broker.release(d!)).toBe(true);
          else expect(await broker.ack(d!)).toBe(true);
        }
      },
      TEST_TIMEOUT_MS,
    );

    // --- dead letters ------------------------------------------------------------------------------

    it(
      "deadLetter moves the envelope to the dead letters with its reason, oldest first",
      async () => {
        const { broker } = await open({ leaseSeconds: 10 });
        const a = makeEnvelope({ args: ["a"] });
        const b = makeEnvelope({ args: ["b"] });
        await broker.publish([{ envelope: a }, { envelope: b }]);
        const [da, db] = await claimN(broker, 2);
        const before = Date.now();
        expect(await broker.deadLetter(da!, "delivery-limit")).toBe(true);
        await sleep(20);
        expect(await broker.deadLetter(db!, "reason with 'quotes' and \"more\"")).toBe(true);
        // Gone from the queue and no longer leased.
        expect(await broker.ack(da!)).toBe(false);
        await nothingClaimable(broker);

        const dead = await broker.listDeadLetters();
        expect(dead.map((d) => d.id)).toEqual([a.uuid, b.uuid]);
        expect(dead[0]!.envelope).toEqual(a);
        expect(dead[0]!.reason).toBe("delivery-limit");
        expect(dead[1]!.reason).toBe("reason with 'quotes' and \"more\"");
        expect(dead[0]!.deadLetteredAt).toBeInstanceOf(Date);
        expect(dead[0]!.deadLetteredAt.getTime()).toBeGreaterThanOrEqual(before - 2000);
        expect(dead[0]!.deadLetteredAt.getTime()).toBeLessThanOrEqual(Date.now() + 2000);
        expect(await broker.listDeadLetters({ limit: 1 })).toHaveLength(1);
        expect((await broker.listDeadLetters({ limit: 1 }))[0]!.id).toBe(a.uuid);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "redriveDeadLetters makes dead letters claimable again (by id, then all)",
      async () => {
        const { broker } = await open({ leaseSeconds: 10 });
        const sent = [makeEnvelope({ args: [0] }), makeEnvelope({ args: [1] }), makeEnvelope({ args: [2] })];
        await broker.publish(sent.map((envelope) => ({ envelope })));
        for (const d of await claimN(broker, 3)) expect(await broker.deadLetter(d, "boom")).toBe(true);
        expect(await broker.listDeadLetters()).toHaveLength(3);

        expect(await broker.redriveDeadLetters([makeEnvelope().uuid])).toBe(0);
        expect(await broker.redriveDeadLetters([sent[1]!.uuid])).toBe(1);
        expect((await broker.listDeadLetters()).map((d) => d.id)).toEqual([sent[0]!.uuid, sent[2]!.uuid]);
        const [again] = await claimN(broker, 1, PROMPT_MS);
        expect(again?.envelope).toEqual(sent[1]);
        expect(await broker.ack(again!)).toBe(true);

        expect(await broker.redriveDeadLetters()).toBe(2);
        expect(await broker.listDeadLetters()).toEqual([]);
        const rest = await claimN(broker, 2, PROMPT_MS);
        expect(uuids(rest).sort()).toEqual([sent[0]!.uuid, sent[2]!.uuid].sort());
        expect(await broker.redriveDeadLetters()).toBe(0);
      },
      TEST_TIMEOUT_MS,
    );

    // --- bad input ---------------------------------------------------------------------------------

    const malformed: { label: string; raw: string | Uint8Array; rawText?: string }[] = [
      { label: "not JSON", raw: "{this is not json", rawText: "{this is not json" },
      { label: "JSON but not an object", raw: "[1,2,3]", rawText: "[1,2,3]" },
      { label: "JSON null", raw: "null", rawText: "null" },
      { label: "wrong shape", raw: '{"v":1,"uuid":"nope","taskName":"t"}' },
      { label: "unknown version", raw: JSON.stringify({ ...makeEnvelope(), v: 2 }) },
      { label: "empty", raw: "" },
      { label: "invalid UTF-8", raw: new Uint8Array([0x7b, 0xff, 0xfe, 0xc3, 0x28, 0x80, 0x7d]) },
      {
        label: "fields hidden under __proto__",
        raw: `{"__proto__":${JSON.stringify(makeEnvelope())}}`,
      },
      {
        label: "a task name that is not valid",
        raw: JSON.stringify({ ...makeEnvelope(), taskName: "bad name:with{separators}" }),
      },
    ];

    it(
      "malformed messages are never claimed, are dead-lettered as malformed, and valid ones behind them are claimed",
      async (ctx) => {
        const { broker, injectRaw } = await open({ leaseSeconds: 10 });
        if (!injectRaw) ctx.skip("not applicable: the factory provides no injectRaw");
        const before = makeEnvelope({ args: ["before"] });
        const after = makeEnvelope({ args: ["after"] });
        await broker.publish([{ envelope: before }]);
        for (const m of malformed) await injectRaw!(m.raw, 0);
        await broker.publish([{ envelope: after }]);

        const got = await claimN(broker, 2, 5000, 10);
        expect(got.map((d) => d.envelope.args[0])).toEqual(["before", "after"]);
        for (const d of got) expect(await broker.ack(d)).toBe(true);
        await nothingClaimable(broker, 0.5);

        const dead = await eventually(async () => {
          const list = await broker.listDeadLetters({ limit: 100 });
          expect(list).toHaveLength(malformed.length);
          return list;
        });
        for (const d of dead) {
          expect(d.reason).toBe("malformed");
          expect(d.envelope).toBeUndefined();
          if (d.raw !== undefined) expect(typeof d.raw).toBe("string");
          expect(typeof d.id).toBe("string");
          expect(d.deadLetteredAt).toBeInstanceOf(Date);
        }
        expect(new Set(dead.map((d) => d.id)).size).toBe(malformed.length);
        // Where the text was readable, it is kept for inspection.
        const raws = dead.map((d) => d.raw);
        for (const m of malformed) if (m.rawText) expect(raws).toContain(m.rawText);
        // A hostile payload polluted nothing.
        expect(({} as Record<string, unknown>).v).toBeUndefined();
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a malformed message's raw text is truncated to 1 KiB, it cannot be re-driven, and it is logged once",
      async (ctx) => {
        const { broker, injectRaw, logger } = await open({ leaseSeconds: 10 });
        if (!injectRaw) ctx.skip("not applicable: the factory provides no injectRaw");
        const big = `not json ${"x".repeat(5000)}`;
        const wide = `не json ${"ж".repeat(3000)}`;
        await injectRaw!(big, 3);
        await injectRaw!(wide, 3);
        const valid = makeEnvelope();
        await broker.publish([{ envelope: valid }]);
        expect(uuids(await claimN(broker, 1))).toEqual([valid.uuid]);
        await nothingClaimable(broker, 0.5);

        const dead = await eventually(async () => {
          const list = await broker.listDeadLetters();
          expect(list).toHaveLength(2);
          return list;
        });
        // Truncated to 1 KiB of UTF-8, multi-byte text included.
        for (const prefix of ["not json xxx", "не json жжж"]) {
          const d = dead.find((x) => x.raw?.startsWith(prefix));
          expect(d, `dead letter starting with ${prefix}`).toBeDefined();
          expect(Buffer.byteLength(d!.raw!, "utf8")).toBeLessThanOrEqual(1024);
          expect(Buffer.byteLength(d!.raw!, "utf8")).toBeGreaterThan(512);
        }

        expect(await broker.redriveDeadLetters()).toBe(0);
        expect(await broker.redriveDeadLetters(dead.map((d) => d.id))).toBe(0);
        expect(await broker.listDeadLetters()).toHaveLength(2);
        await nothingClaimable(broker, 0.3);

        // Logged, once per message: not on every claim or sweep that comes after.
        await broker.claim(1, { waitSeconds: 0.3 });
        const problems = logger.problems();
        expect(problems.length).toBeGreaterThanOrEqual(1);
        expect(problems.length).toBeLessThanOrEqual(2);
        // The raw payload is not dumped whole into the log.
        expect(JSON.stringify(logger.entries)).not.toContain("x".repeat(2000));
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "task names like __proto__, constructor and toString are ordinary data",
      async () => {
        const { broker } = await open({ leaseSeconds: 10 });
        const sent = ["__proto__", "constructor", "toString", "hasOwnProperty"].map((taskName) =>
          makeEnvelope({ taskName, extra: { constructor: "x", toString: "y" } }),
        );
        await broker.publish(sent.map((envelope) => ({ envelope })));
        const got = await claimN(broker, sent.length);
        expect(got.map((d) => d.envelope)).toEqual(sent);
        for (const d of got) expect(Object.getPrototypeOf(d.envelope)).toBe(Object.prototype);
        expect(({} as Record<string, unknown>).taskName).toBeUndefined();
        await broker.deadLetter(got[0]!, "test");
        expect((await broker.listDeadLetters())[0]?.envelope?.taskName).toBe("__proto__");
      },
      TEST_TIMEOUT_MS,
    );

    // --- stats -------------------------------------------------------------------------------------

    it(
      "stats reflect ready, delayed, in-flight and dead-letter counts",
      async () => {
        const { broker } = await open({ leaseSeconds: 10 });
        const sum = (r: Record<number, number>) => Object.values(r).reduce((a, b) => a + b, 0);
        const empty = await broker.stats();
        expect(sum(empty.ready)).toBe(0);

        await broker.publish([
          { envelope: makeEnvelope({ priority: 0 }) },
          { envelope: makeEnvelope({ priority: 0 }) },
          { envelope: makeEnvelope({ priority: 5 }) },
          { envelope: makeEnvelope({ priority: 5 }) },
          { envelope: makeEnvelope({ priority: 1 }), delay: 30 },
        ]);
        await eventually(async () => {
          const s = await broker.stats();
          expect(sum(s.ready)).toBe(4);
          if (s.delayed !== undefined) expect(s.delayed).toBe(1);
          if (s.inFlight !== undefined) expect(s.inFlight).toBe(0);
          if (s.deadLetters !== undefined) expect(s.deadLetters).toBe(0);
        });

        const [d5] = await claimN(broker, 1);
        expect(d5?.envelope.priority).toBe(5);
        await eventually(async () => {
          const s = await broker.stats();
          expect(sum(s.ready)).toBe(3);
          if (s.inFlight !== undefined) expect(s.inFlight).toBe(1);
        });

        expect(await broker.deadLetter(d5!, "boom")).toBe(true);
        await eventually(async () => {
          const s = await broker.stats();
          expect(sum(s.ready)).toBe(3);
          if (s.inFlight !== undefined) expect(s.inFlight).toBe(0);
          if (s.deadLetters !== undefined) expect(s.deadLetters).toBe(1);
        });

        const rest = await claimN(broker, 3);
        expect(rest).toHaveLength(3);
        for (const d of rest) expect(await broker.ack(d)).toBe(true);
        await eventually(async () => {
          const s = await broker.stats();
          expect(sum(s.ready)).toBe(0);
          if (s.inFlight !== undefined) expect(s.inFlight).toBe(0);
          if (s.delayed !== undefined) expect(s.delayed).toBe(1);
        });
      },
      TEST_TIMEOUT_MS,
    );
  });
}
