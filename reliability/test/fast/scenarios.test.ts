import { RabbitMQBroker } from "@qtasks/broker-rabbitmq";
import { RedisBroker } from "@qtasks/broker-redis";
import { InvalidOptionError, PayloadTooLargeError } from "@qtasks/core";
import { afterEach, describe, expect, it } from "vitest";
import { BACKENDS } from "../../src/backends";
import { Scenario, startedCount, until } from "../../src/harness";
import { readJournals } from "../../src/journal";
import { recordRow } from "../../src/report";

let current: Scenario | undefined;
afterEach(async () => {
  await current?.dispose();
  current = undefined;
});

function scenario(...args: ConstructorParameters<typeof Scenario>): Scenario {
  current = new Scenario(...args);
  return current;
}

/** Raw bytes straight into the broker, past every client-side check. */
async function injectRaw(s: Scenario, raw: string | Uint8Array): Promise<void> {
  const broker = s.client.broker;
  if (broker instanceof RedisBroker) return broker.injectRaw(raw, 0);
  if (broker instanceof RabbitMQBroker) return broker.publishRaw(Buffer.from(raw));
  throw new Error(`no raw injection for ${broker.name}`);
}

const ms = (i: number) => 50 + ((i * 37) % 451); // 50..500 ms, spread evenly

describe.each(BACKENDS)("reliability on $label", (backend) => {
  it("1. SIGKILL one of two workers mid-run: all final, duplicates bounded by the in-flight tasks, no overlap", async () => {
    const s = scenario(backend, { leaseSeconds: 2 });
    await s.client.connect();
    const a = await s.startWorker({ concurrency: 50 });
    await s.startWorker({ concurrency: 50 });
    const jobs = Array.from({ length: 1000 }, (_, i) => ({ id: `t${i}`, ms: ms(i) }));
    await s.enqueue("rel.work", jobs);
    await until(() => startedCount(s.journalDir) >= 300, 60, "300 tasks to start");
    a.child.kill("SIGKILL");
    await a.exited;
    // In flight on the killed worker: started there and never ended.
    const events = readJournals(s.journalDir);
    const ended = new Set(
      events.filter((e) => e.e === "end" && e.pid === a.child.pid).map((e) => (e as { id: string }).id),
    );
    const inFlight = events.filter(
      (e) => e.e === "start" && e.pid === a.child.pid && !ended.has(e.id),
    ).length;
    await s.startWorker({ concurrency: 50 });
    const acc = await s.account(90);
    recordRow({
      scenario: "1 sigkill",
      backend: backend.label,
      ...acc,
      notes: `in flight at kill: ${inFlight}`,
    });
    expect(acc.acknowledged).toBe(1000);
    expect(acc.lost).toBe(0);
    expect(acc.unexpected).toBe(0);
    expect(acc.duplicates).toBeLessThanOrEqual(inFlight);
    expect(acc.overlaps).toBe(0);
  });

  it("6. a crash between the final write and the ack: the redelivered task is acked without running again", async () => {
    const s = scenario(backend, { leaseSeconds: 1 });
    await s.client.connect();
    const crashing = await s.startWorker({ concurrency: 1, env: { QTASKS_REL_CRASH_AFTER_FINAL: "1" } });
    await s.enqueue("rel.work", [{ id: "once", ms: 10 }]);
    await crashing.exited;
    await s.startWorker({ concurrency: 1 });
    // Redelivery, then an ack without a run: the queue drains and the task ran once.
    await until(
      async () => {
        const st = await s.client.broker.stats();
        return Object.values(st.ready).every((n) => n === 0) && (st.inFlight ?? 0) === 0;
      },
      30,
      "the redelivered envelope to be acked",
    );
    await new Promise((r) => setTimeout(r, 2500));
    const acc = await s.account(10);
    recordRow({ scenario: "6 crash after final", backend: backend.label, ...acc });
    expect(acc.lost).toBe(0);
    expect(acc.executions).toBe(1);
    expect((await s.client.get(s.uuids.get("once")!))?.status).toBe("success");
  });

  it("7. a poison task that kills its worker every time is dead-lettered after exactly the delivery limit", async () => {
    const limit = 3;
    const s = scenario(backend, { leaseSeconds: 1, deliveryLimit: limit });
    await s.client.connect();
    const sup = s.supervise(1, { concurrency: 1 });
    await s.enqueue("rel.poison", [{ id: "poison" }]);
    await s.enqueue(
      "rel.work",
      Array.from({ length: 20 }, (_, i) => ({ id: `ok${i}`, ms: 5 })),
    );
    const acc = await s.account(120);
    sup.stop();
    const poison = await s.client.handle(s.uuids.get("poison")!).wait({ timeout: 5 });
    const poisonRuns = readJournals(s.journalDir).filter((e) => e.e === "start" && e.id === "poison").length;
    recordRow({ scenario: "7 poison", backend: backend.label, ...acc, notes: `poison runs: ${poisonRuns}` });
    expect(poison.status).toBe("error");
    expect(poison.deadLetterReason).toBe("delivery-limit");
    expect(poisonRuns).toBe(limit);
    expect(acc.lost).toBe(0);
    // The dead letter is written right after the final record: give it a moment.
    await until(
      async () => (await s.client.listDeadLetters()).some((d) => d.envelope?.uuid === poison.uuid),
      10,
      "the poison task in the dead letters",
    );
  });

  it("8. a worker whose event loop is blocked past its lease: the newer attempt stands, the stale one is refused and logged", async () => {
    const s = scenario(backend, { leaseSeconds: 1, heartbeat: 2 });
    await s.client.connect();
    const blocked = await s.startWorker({ concurrency: 1 });
    await s.enqueue("rel.block", [{ id: "blocker", ms: 8000 }]);
    await until(() => startedCount(s.journalDir) >= 1, 30, "the blocking task to start");
    const other = await s.startWorker({ concurrency: 1 });
    const rec = await s.client.handle(s.uuids.get("blocker")!).wait({ timeout: 60 });
    expect(rec.status).toBe("success");
    expect(rec.returning).toEqual({ pid: other.child.pid, attempt: 2 });
    // The blocked worker wakes, finishes, and its write is refused.
    await until(
      () => blocked.stderr.some((l) => l.includes("stale completion refused")),
      30,
      "the stale refusal log",
    );
    const after = await s.client.get(rec.uuid);
    expect(after?.returning).toEqual({ pid: other.child.pid, attempt: 2 });
    const acc = await s.account(10);
    recordRow({
      scenario: "8 blocked loop",
      backend: backend.label,
      ...acc,
      notes: "stale completion refused",
    });
    expect(acc.lost).toBe(0);
  });

  it("9. hostile input straight into the broker is dead-lettered or rejected once, and the worker goes on", async () => {
    const s = scenario(backend);
    await s.client.connect();
    const w = await s.startWorker({ concurrency: 10 });
    const good = (over: Record<string, unknown>) =>
      JSON.stringify({
        v: 1,
        uuid: crypto.randomUUID(),
        taskName: "rel.work",
        args: [{ id: "x" }],
        priority: 0,
        retries: 0,
        enqueuedAt: Date.now(),
        ...over,
      });
    const malformed: (string | Uint8Array)[] = [
      '{"v":1,"uuid":"trunc',
      new Uint8Array([0xff, 0xfe, 0xfd, 0x00]),
      "",
      "[1,2,3]",
      good({ taskName: "n".repeat(10 * 1024) }),
      good({ priority: "NaN" }),
      good({ priority: 1e9 }),
      good({ retries: 1e9 }),
      good({ args: "not-a-list" }),
      good({ uuid: "../x" }),
    ];
    for (const raw of malformed) await injectRaw(s, raw);
    // Valid envelopes with hostile names and payloads: they run (or fail) as data.
    const unknownNames = ["__proto__", "constructor", "../x"];
    const hostileUuids: string[] = [];
    for (const taskName of unknownNames) {
      const uuid = crypto.randomUUID();
      hostileUuids.push(uuid);
      await injectRaw(s, good({ uuid, taskName }));
    }
    const polluting = crypto.randomUUID();
    s.journal.record({ e: "attempt", id: "p", ts: Date.now() });
    s.journal.record({ e: "acked", id: "p", uuid: polluting, ts: Date.now() });
    s.uuids.set("p", polluting);
    await injectRaw(
      s,
      `{"v":1,"uuid":"${polluting}","taskName":"rel.work","args":[{"id":"p","__proto__":{"polluted":1}}],"priority":0,"retries":0,"enqueuedAt":1,"extra":{"__proto__":{"polluted":2}}}`,
    );
    // Out-of-range options at the client are refused before any I/O.
    await expect(s.client.with({ priority: Number.NaN }).addTask("rel.work", {})).rejects.toBeInstanceOf(
      InvalidOptionError,
    );
    await expect(s.client.with({ delay: -1 }).addTask("rel.work", {})).rejects.toBeInstanceOf(
      InvalidOptionError,
    );
    // The next 100 valid tasks all run.
    await s.enqueue(
      "rel.work",
      Array.from({ length: 100 }, (_, i) => ({ id: `v${i}`, ms: 1 })),
    );
    const acc = await s.account(60);
    for (const uuid of hostileUuids) {
      const rec = await s.client.handle(uuid).wait({ timeout: 30 });
      expect(rec.status).toBe("error");
      expect(rec.errorName).toBe("UnknownTaskError");
    }
    expect((await s.client.handle(polluting).wait({ timeout: 30 })).status).toBe("success");
    const probe = await s.client.addTask("rel.probe");
    expect(await probe.result({ timeout: 30 })).toEqual({ polluted: null, protoPolluted: false });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await until(
      async () =>
        (await s.client.listDeadLetters({ limit: 100 })).filter((d) => d.reason === "malformed").length >=
        malformed.length,
      30,
      "every malformed message to be dead-lettered",
    );
    const dead = (await s.client.listDeadLetters({ limit: 100 })).filter((d) => d.reason === "malformed");
    const logged = w.stderr.filter((l) => /malformed/i.test(l)).length;
    recordRow({
      scenario: "9 hostile input",
      backend: backend.label,
      ...acc,
      notes: `malformed dead-lettered: ${dead.length}/${malformed.length}, logged: ${logged}`,
    });
    expect(dead).toHaveLength(malformed.length);
    expect(logged).toBe(malformed.length);
    expect(acc.lost).toBe(0);
    expect(w.child.exitCode).toBeNull();
  });

  it("10. oversized payloads are refused before any I/O; an oversized result ends the task in error", async () => {
    const s = scenario(backend);
    await s.client.connect();
    await s.startWorker({ concurrency: 2 });
    const before = await s.client.storage.count();
    const err = await s.client
      .addTask("rel.work", { id: "big", pad: "x".repeat(1024 * 1024 + 10) })
      .catch((e) => e);
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect(await s.client.storage.count()).toEqual(before);
    const rec = await (await s.client.addTask("rel.big", 2 * 1024 * 1024)).wait({ timeout: 30 });
    expect(rec.status).toBe("error");
    expect(rec.errorName).toBe("PayloadTooLargeError");
    recordRow({
      scenario: "10 oversized",
      backend: backend.label,
      notes: "payload refused before I/O; result -> error",
    });
  });
});
