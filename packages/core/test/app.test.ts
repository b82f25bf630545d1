import { afterEach, describe, expect, it } from "vitest";
import {
  type FusedOperations,
  InvalidTaskNameError,
  MemoryBroker,
  PayloadTooLargeError,
  type QueueTasks,
  SerializationError,
  type Storage,
  TaskFailedError,
  type TaskRecord,
  UnknownTaskError,
  WaitTimeoutError,
} from "../src/index";
import { makeApp, sleep } from "./helpers";

const apps: QueueTasks[] = [];
function app(options = {}) {
  const a = makeApp(options);
  apps.push(a);
  return a;
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop({ timeout: 1 })));
});

type ClaimOptionsOf = Parameters<MemoryBroker["claim"]>[1];

/** Claims in flight, counted around a claim that takes a round trip (5 ms) so lanes overlap. */
function claimCounter() {
  const claims = { inFlight: 0, maxInFlight: 0, asks: [] as number[] };
  const around = async <T>(max: number, claim: () => Promise<T>): Promise<T> => {
    claims.asks.push(max);
    claims.maxInFlight = Math.max(claims.maxInFlight, ++claims.inFlight);
    try {
      await sleep(5);
      return await claim();
    } finally {
      claims.inFlight--;
    }
  };
  return { claims, around };
}

/** Holds the first `n` claims and answers them in one callback (as replies read from one socket). */
function answerTogether(n: number): () => Promise<void> {
  let answer: () => void = () => {};
  const answered = new Promise<void>((r) => {
    answer = r;
  });
  let calls = 0;
  return async () => {
    const k = ++calls;
    if (k === n) setTimeout(answer, 5);
    if (k <= n) await answered;
  };
}

/**
 * A MemoryBroker that fuses with any storage the plain way (claim, then begin each; finish, then
 * ack): what the worker needs to use claim lanes, which it does only with a fused claim-and-begin.
 */
class FusingMemoryBroker extends MemoryBroker {
  fuse(storage: Storage): FusedOperations {
    return {
      enqueue: async (records, messages) => {
        await storage.add(records);
        await this.publish(messages);
      },
      claimAndBegin: async (max, options) => {
        const claimed = await this.claim(max, options);
        const begun = await Promise.all(claimed.map((d) => storage.begin(d.envelope.uuid, d.envelope)));
        return claimed.map((delivery, i) => ({ delivery, begun: begun[i] }));
      },
      finishAndAck: async (delivery, attempt, outcome) => {
        const ok = await storage.finish(delivery.envelope.uuid, attempt, outcome);
        if (ok) await this.ack(delivery);
        return ok;
      },
    };
  }
}

describe("QueueTasks end to end on the in-memory default", () => {
  it("runs a task and returns its typed result", async () => {
    const a = app();
    const add = a.task({ name: "add" }, async (x: number, y: number) => x + y);
    await a.start();
    const handle = await add.addTask(2, 3);
    expect(handle.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(await handle.result({ timeout: 5 })).toBe(5);
    const record = await a.get(handle.uuid);
    expect(record).toMatchObject({
      status: "success",
      returning: 5,
      args: [2, 3],
      taskName: "add",
      attempt: 1,
    });
    expect(record?.startedAt).toBeInstanceOf(Date);
    expect(record?.finishedAt).toBeInstanceOf(Date);
  });

  it("enqueues by name, in bulk, and waits for all", async () => {
    const a = app();
    const double = a.task(function double(n: number) {
      return n * 2;
    });
    await a.start();
    const handles = await double.addTasks([[1], [2], [3]]);
    expect(await Promise.all(handles.map((h) => h.result({ timeout: 5 })))).toEqual([2, 4, 6]);
    const byName = await a.addTask<typeof double>("double", 21);
    expect(await byName.result({ timeout: 5 })).toBe(42);
    const mixed = await a.addTasks([
      { task: "double", args: [5] },
      { task: double, args: [6], priority: 3 },
    ]);
    expect(await Promise.all(mixed.map((h) => h.result({ timeout: 5 })))).toEqual([10, 12]);
    expect((await a.get(mixed[1]!.uuid))?.priority).toBe(3);
  });

  it("a client enqueues before any worker exists; the worker runs it later", async () => {
    const a = app();
    const t = a.task({ name: "later" }, () => "done");
    const handle = await t.addTask();
    expect((await handle.get())?.status).toBe("new");
    await a.start();
    expect(await handle.result({ timeout: 5 })).toBe("done");
  });

  it("runs higher priorities first, FIFO within a priority", async () => {
    const a = app({ config: { maxTasksProcess: 1 } });
    const order: string[] = [];
    const t = a.task({ name: "rec" }, (label: string) => {
      order.push(label);
    });
    await t.with({ priority: 0 }).addTask("p0-a");
    await t.with({ priority: 5 }).addTask("p5-a");
    await t.with({ priority: -2 }).addTask("pm2");
    await t.with({ priority: 5 }).addTask("p5-b");
    const last = await t.with({ priority: 0 }).addTask("p0-b");
    await a.start();
    await last.wait({ timeout: 5 });
    await sleep(20);
    expect(order).toEqual(["p5-a", "p5-b", "p0-a", "p0-b", "pm2"]);
  });

  it("delays a task by the requested seconds", async () => {
    const a = app();
    const t = a.task({ name: "delayed" }, () => Date.now());
    await a.start();
    const at = Date.now();
    const h = await t.with({ delay: 0.3 }).addTask();
    const ranAt = (await h.result({ timeout: 5 })) as number;
    expect(ranAt - at).toBeGreaterThanOrEqual(290);
  });

  it("records a thrown error with a readable traceback, and result() rejects with TaskFailedError", async () => {
    const a = app();
    const t = a.task({ name: "boom" }, () => {
      throw new RangeError("out of range");
    });
    const s = a.task({ name: "throws-string" }, () => {
      throw "plain string";
    });
    await a.start();
    const h = await t.addTask();
    await expect(h.result({ timeout: 5 })).rejects.toBeInstanceOf(TaskFailedError);
    const rec = (await h.wait()) as TaskRecord;
    expect(rec.status).toBe("error");
    expect(rec.errorName).toBe("RangeError");
    expect(rec.traceback).toContain("RangeError: out of range");
    const h2 = await s.addTask();
    const rec2 = await h2.wait({ timeout: 5 });
    expect(rec2.status).toBe("error");
    expect(rec2.traceback).toContain("plain string");
  });

  it("wait() times out with WaitTimeoutError instead of returning null", async () => {
    const a = app();
    const t = a.task({ name: "slow" }, () => sleep(2000));
    await a.start();
    const h = await t.addTask();
    const err = await h.wait({ timeout: 0.2 }).catch((e) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(err.code).toBe("QTASKS_WAIT_TIMEOUT");
    expect(err.message).toContain(h.uuid);
  });

  it("unknown task names at the worker end in error with UnknownTaskError; prototype names are ordinary", async () => {
    const a = app();
    let ran = 0;
    a.task({ name: "known" }, () => {
      ran++;
    });
    await a.start();
    for (const name of ["missing", "__proto__", "constructor", "toString", "hasOwnProperty"]) {
      const h = await a.addTask(name);
      const rec = await h.wait({ timeout: 5 });
      expect(rec.status).toBe("error");
      expect(rec.errorName).toBe("UnknownTaskError");
      expect(rec.traceback).toContain(JSON.stringify(name));
    }
    expect(ran).toBe(0);
    const ok = await a.addTask("known");
    const okRec = await ok.wait({ timeout: 5 });
    expect(okRec.traceback).toBeUndefined();
    expect(okRec.status).toBe("success");
    expect(new UnknownTaskError("x").code).toBe("QTASKS_UNKNOWN_TASK");
  });

  it("rejects invalid task names at registration", () => {
    const a = app();
    for (const name of ["", "x".repeat(201), "bad\nname", "a:b", "{x}", "tab\there", "null\u0000"]) {
      expect(() => a.task({ name }, () => {})).toThrow(InvalidTaskNameError);
    }
    expect(() => a.task(() => {})).toThrow(InvalidTaskNameError); // anonymous, no name
  });

  it("rejects arguments JSON cannot carry, and stores and publishes nothing", async () => {
    const a = app();
    const t = a.task({ name: "echoargs" }, (...xs: unknown[]) => xs);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [() => 1, Symbol("s"), 10n, cyclic, new Date(), new Map(), Number.NaN, [undefined]]) {
      await expect(t.addTask(bad)).rejects.toBeInstanceOf(SerializationError);
    }
    const stats = await a.stats();
    expect(stats.statuses.new).toBe(0);
    expect(Object.keys(stats.broker.ready)).toHaveLength(0);
  });

  it("rejects payloads over the limit before any I/O", async () => {
    const a = app({ config: { maxPayloadBytes: 1000 } });
    const t = a.task({ name: "big" }, (s: string) => s.length);
    await expect(t.addTask("x".repeat(2000))).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect((await a.stats()).statuses.new).toBe(0);
  });

  it("a lease that expires redelivers the task, and the stale attempt cannot overwrite the newer one", async () => {
    const broker = new MemoryBroker({ leaseSeconds: 0.3 });
    const a = app({ broker });
    const t = a.task({ name: "lease" }, async () => "fresh");
    // Claim by hand with a worker that never renews: simulate a dead worker holding a lease.
    await a.connect();
    const h = await t.addTask();
    const [d] = await broker.claim(1, { waitSeconds: 1 });
    const begun = await a.storage.begin(d!.envelope.uuid, d!.envelope);
    expect(begun.kind).toBe("started");
    // The lease expires; a real worker picks it up again and finishes it.
    await a.start();
    const rec = await h.wait({ timeout: 5 });
    expect(rec.status).toBe("success");
    expect(rec.returning).toBe("fresh");
    expect(rec.attempt).toBe(2);
    // The stale attempt's final write and ack are refused.
    expect(
      await a.storage.finish(h.uuid, begun.kind === "started" ? begun.attempt : 0, {
        status: "success",
        returning: "stale",
      }),
    ).toBe(false);
    expect(await broker.ack(d!)).toBe(false);
    expect((await a.get(h.uuid))?.returning).toBe("fresh");
  });

  it("dead-letters a task delivered more than the delivery limit", async () => {
    const broker = new MemoryBroker({ leaseSeconds: 0.1, deliveryLimit: 2 });
    const a = app({ broker });
    a.task({ name: "poison" }, () => "never");
    await a.connect();
    const h = await a.addTask("poison");
    // Three claims that never finish (a worker that dies each time).
    for (let i = 0; i < 2; i++) {
      const [d] = await broker.claim(1, { waitSeconds: 2 });
      expect(d?.deliveryCount).toBe(i + 1);
      await a.storage.begin(d!.envelope.uuid, d!.envelope);
    }
    await a.start();
    const rec = await h.wait({ timeout: 5 });
    expect(rec.status).toBe("error");
    expect(rec.deadLetterReason).toBe("delivery-limit");
    const dead = await a.listDeadLetters();
    expect(dead.map((d) => d.id)).toEqual([h.uuid]);
    // Re-drive: the record goes back to new and the task runs.
    expect(await a.redriveDeadLetters()).toBe(1);
    const again = await a.handle(h.uuid).wait({ timeout: 5 });
    expect(again.status).toBe("success");
    expect(again.returning).toBe("never");
  });

  it("graceful stop lets running tasks finish and releases the ones past the deadline", async () => {
    const broker = new MemoryBroker();
    const a = app({ broker });
    const started: string[] = [];
    const t = a.task({ name: "work" }, async (ms: number) => {
      started.push(String(ms));
      await sleep(ms);
      return ms;
    });
    await a.start();
    const quick = await t.addTask(100);
    const long = await t.addTask(5000);
    await sleep(50);
    await a.stop({ timeout: 0.5 });
    expect((await a.storage.get(quick.uuid))?.status).toBe("success");
    // The long one was released back to the broker: ready again, not leased.
    const stats = await broker.stats();
    expect(stats.inFlight).toBe(0);
    expect(Object.values(stats.ready).reduce((x, y) => x + y, 0)).toBe(1);
    expect((await a.storage.get(long.uuid))?.status).toBe("process");
  });

  it("a redelivered task whose record is already final is acked without running again", async () => {
    const broker = new MemoryBroker({ leaseSeconds: 0.2 });
    const a = app({ broker });
    let runs = 0;
    a.task({ name: "once" }, () => ++runs);
    await a.connect();
    const h = await a.addTask("once");
    const [d] = await broker.claim(1, { waitSeconds: 1 });
    const begun = await a.storage.begin(h.uuid, d!.envelope);
    // Crash between the final write and the ack: the record is final, the envelope is not acked.
    await a.storage.finish(h.uuid, begun.kind === "started" ? begun.attempt : 0, {
      status: "success",
      returning: 0,
    });
    await a.start();
    await sleep(600);
    expect(runs).toBe(0);
    const stats = await broker.stats();
    expect(stats.inFlight).toBe(0);
    expect(Object.keys(stats.ready)).toHaveLength(0);
  });

  it("dead-letters a malformed message as malformed and keeps processing the next ones", async () => {
    const broker = new MemoryBroker();
    const a = app({ broker });
    let ran = 0;
    const t = a.task({ name: "valid" }, () => ++ran);
    await a.start();
    for (const raw of [
      "not json",
      "",
      "[]",
      '{"v":1}',
      JSON.stringify({ v: 1, uuid: "x", taskName: "__proto__" }),
    ])
      broker.injectRaw(raw);
    const handles = await t.addTasks(Array.from({ length: 100 }, () => []));
    await Promise.all(handles.map((h) => h.wait({ timeout: 10 })));
    expect(ran).toBe(100);
    const dead = await a.listDeadLetters();
    expect(dead).toHaveLength(5);
    expect(dead.every((d) => d.reason === "malformed" && d.envelope === undefined)).toBe(true);
    expect(await a.redriveDeadLetters()).toBe(0); // malformed ones cannot be re-driven
  });

  it("prototype pollution in args and options stays data", async () => {
    const a = app();
    const t = a.task({ name: "pollute" }, (payload: Record<string, unknown>) => Object.keys(payload));
    await a.start();
    const hostile = JSON.parse('{"__proto__":{"polluted":1},"a":1}');
    const h = await t.with({ extra: JSON.parse('{"__proto__":{"polluted":2}}') }).addTask(hostile);
    await h.wait({ timeout: 5 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
  });

  it("retention purges old final records and keeps the rest", async () => {
    const a = app({ config: { retention: { olderThanSeconds: 0.1, intervalSeconds: 3600 } } });
    const t = a.task({ name: "short_lived" }, () => 1);
    const slow = a.task({ name: "still_running" }, () => sleep(1000));
    await a.start();
    const done = await t.addTask();
    await done.wait({ timeout: 5 });
    const running = await slow.addTask();
    await sleep(200);
    expect(await a.currentWorker!.purge()).toBe(1);
    expect(await a.get(done.uuid)).toBeNull();
    expect(await a.get(running.uuid)).not.toBeNull();
  });

  it("a run gives its slot back once its final write is issued: the next task starts before that write returns", async () => {
    const a = app({ config: { maxTasksProcess: 1 } });
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    // The first final write does not return until the second task has started.
    const finish = a.storage.finish.bind(a.storage);
    let first = true;
    a.storage.finish = async (...args) => {
      if (first) {
        first = false;
        await held;
      }
      return finish(...args);
    };
    const started: number[] = [];
    const t = a.task({ name: "slot_free" }, (n: number) => {
      started.push(n);
      if (n === 2) release();
      return n;
    });
    const [h1, h2] = await t.addTasks([[1], [2]]);
    await a.start();
    expect(await h2!.result({ timeout: 5 })).toBe(2);
    expect(await h1!.result({ timeout: 5 })).toBe(1);
    expect(started).toEqual([1, 2]);
  });

  it("claim lanes: a broker with claimLanes 2 gets two claims in flight, each for its share of the slots", async () => {
    const { claims, around } = claimCounter();
    class LaneBroker extends FusingMemoryBroker {
      readonly claimLanes = 2;
      override claim(max: number, options: ClaimOptionsOf) {
        return around(max, () => super.claim(max, options));
      }
    }
    const a = app({ broker: new LaneBroker(), config: { maxTasksProcess: 10 } });
    let running = 0;
    let maxRunning = 0;
    const runs = new Map<number, number>();
    const t = a.task({ name: "laned" }, async (n: number) => {
      runs.set(n, (runs.get(n) ?? 0) + 1);
      maxRunning = Math.max(maxRunning, ++running);
      await sleep(10);
      running--;
    });
    const handles = await t.addTasks(Array.from({ length: 100 }, (_, i) => [i] as [number]));
    await a.start();
    await Promise.all(handles.map((h) => h.wait({ timeout: 10 })));
    expect(claims.maxInFlight).toBe(2);
    expect(Math.max(...claims.asks)).toBe(5);
    expect(maxRunning).toBe(10);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(runs.size).toBe(100);
  });

  it("claim lanes: a batch that comes back in the same turn as the other lane's starts a turn later", async () => {
    // Both lanes' claims are answered by one callback (as two replies read from one socket are).
    const gate = answerTogether(2);
    class SameTurnBroker extends FusingMemoryBroker {
      readonly claimLanes = 2;
      override async claim(max: number, options: ClaimOptionsOf) {
        await gate();
        return super.claim(max, options);
      }
    }
    const a = app({ broker: new SameTurnBroker(), config: { maxTasksProcess: 4 } });
    // Counts turns of the event loop (one per check phase) while the tasks start.
    let turn = 0;
    let counting = true;
    const tick = () => {
      turn++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const startedIn: number[] = [];
    const t = a.task({ name: "same_turn" }, (n: number) => {
      startedIn[n] = turn;
    });
    const handles = await t.addTasks([[0], [1], [2], [3]]);
    await a.start();
    await Promise.all(handles.map((h) => h.wait({ timeout: 5 })));
    counting = false;
    // The first lane's two tasks start together; the second lane's start at least a turn later.
    expect(startedIn[0]).toBe(startedIn[1]);
    expect(startedIn[2]).toBe(startedIn[3]);
    expect(startedIn[2]!).toBeGreaterThan(startedIn[0]!);
  });

  it("claim lanes are used only with a fused claim-and-begin: a plain broker with claimLanes 2 claims in one lane", async () => {
    const { claims, around } = claimCounter();
    class PlainLanes extends MemoryBroker {
      readonly claimLanes = 2;
      override claim(max: number, options: ClaimOptionsOf) {
        return around(max, () => super.claim(max, options));
      }
    }
    const a = app({ broker: new PlainLanes(), config: { maxTasksProcess: 10 } });
    const t = a.task({ name: "one_lane" }, async () => {
      await sleep(5);
    });
    const handles = await t.addTasks(Array.from({ length: 40 }, () => [] as []));
    await a.start();
    await Promise.all(handles.map((h) => h.wait({ timeout: 10 })));
    expect(claims.maxInFlight).toBe(1);
  });

  it("claim lanes: batches answered together start one turn apart, in the order they arrived", async () => {
    // Three lanes answered in one callback: the first starts at once, the others queue in order.
    const gate = answerTogether(3);
    class ThreeLanes extends FusingMemoryBroker {
      readonly claimLanes = 3;
      override async claim(max: number, options: ClaimOptionsOf) {
        await gate();
        return super.claim(max, options);
      }
    }
    const a = app({ broker: new ThreeLanes(), config: { maxTasksProcess: 3 } });
    const order: number[] = [];
    const t = a.task({ name: "arrival" }, (n: number) => {
      order.push(n);
    });
    const handles = await t.addTasks([[0], [1], [2]]);
    await a.start();
    await Promise.all(handles.map((h) => h.wait({ timeout: 5 })));
    expect(order).toEqual([0, 1, 2]);
  });

  it("a broker's claimLanes must be a positive integer", async () => {
    class BadLanes extends MemoryBroker {
      readonly claimLanes = 0;
    }
    const a = app({ broker: new BadLanes() });
    await expect(a.start()).rejects.toMatchObject({ code: "QTASKS_INVALID_OPTION" });
  });

  it("prefetch claims ahead of free slots, runs in order, and releases what it held on stop", async () => {
    const broker = new MemoryBroker();
    const a = app({ broker, config: { maxTasksProcess: 1, prefetch: 2 } });
    const order: number[] = [];
    let gate: () => void = () => {};
    const opened = new Promise<void>((r) => {
      gate = r;
    });
    const t = a.task({ name: "prefetched" }, async (n: number) => {
      order.push(n);
      if (n === 0) await opened;
    });
    const handles = await t.addTasks([[0], [1], [2], [3], [4]]);
    await a.start();
    await sleep(100);
    // One running, two held ahead, two left in the queue.
    let stats = await broker.stats();
    expect(stats.inFlight).toBe(3);
    expect(Object.values(stats.ready).reduce((x, y) => x + y, 0)).toBe(2);
    gate();
    await Promise.all(handles.map((h) => h.wait({ timeout: 5 })));
    expect(order).toEqual([0, 1, 2, 3, 4]);
    // Held deliveries go back at stop.
    let block: () => void = () => {};
    const blocked = new Promise<void>((r) => {
      block = r;
    });
    const slow = a.task({ name: "slow_hold" }, () => blocked);
    await slow.addTasks([[], [], []]);
    await sleep(100);
    const stopping = a.stop({ timeout: 0.2 });
    await stopping;
    block();
    stats = await broker.stats();
    expect(stats.inFlight).toBe(0);
    expect(Object.values(stats.ready).reduce((x, y) => x + y, 0)).toBe(3);
  });
});
