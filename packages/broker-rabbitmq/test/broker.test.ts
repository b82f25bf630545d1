import { randomUUID } from "node:crypto";
import type { Delivery } from "@qtasks/core";
import { connect } from "amqplib";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { PublishUnroutableError, priorityLevel, RabbitMQBroker, type RabbitMQBrokerOptions } from "../src";
import {
  AMQP_URL,
  closeConnectionsNamed,
  ctx,
  deleteQueues,
  envelope,
  eventually,
  heartbeatsOf,
  type LogLine,
  memoryLogger,
  onServer,
  sleep,
  uniquePrefix,
} from "./helpers";

const prefix = uniquePrefix("broker");
const brokers: RabbitMQBroker[] = [];
let lines: LogLine[] = [];

function make(options: Partial<RabbitMQBrokerOptions> = {}, queue = `${prefix}.${randomUUID().slice(0, 8)}`) {
  const b = new RabbitMQBroker({ url: AMQP_URL, queue, connectionName: queue, ...options });
  brokers.push(b);
  return b;
}

async function started(options: Partial<RabbitMQBrokerOptions> = {}, queue?: string) {
  const b = make(options, queue);
  await b.start(ctx(memoryLogger(lines)));
  return b;
}

afterEach(async () => {
  for (const b of brokers.splice(0)) await b.stop();
  const bad = lines.filter((l) => /unknown delivery tag/i.test(JSON.stringify(l)));
  lines = [];
  expect(bad).toEqual([]);
});

afterAll(async () => {
  await deleteQueues(prefix);
});

describe("RabbitMQBroker basics", () => {
  it("declares its queues, publishes with confirms, claims and acks", async () => {
    const b = await started();
    const e = envelope(0);
    await b.publish([{ envelope: e }]);
    expect((await b.stats()).ready).toEqual({ 0: 1 });
    const [d] = await b.claim(5, { waitSeconds: 5 });
    expect(d?.envelope).toEqual(e);
    expect(d?.deliveryCount).toBe(1);
    expect(await b.ack(d!)).toBe(true);
    expect(await b.ack(d!)).toBe(false);
    expect(await b.claim(1, { waitSeconds: 0 })).toEqual([]);
    expect(await b.stats()).toEqual({ ready: {}, deadLetters: 0 });
    // Two connections (publish, consume), both with AMQP heartbeats on (default 30 s).
    expect(await heartbeatsOf(b.queue)).toEqual([30, 30]);
  });

  it("names the queue after the app by default and never closes a connection it was given", async () => {
    const conn = await connect(AMQP_URL);
    try {
      const app = `${prefix.replace(/^qtasks-test\./, "qtasks-test-")}-app`.slice(0, 90);
      const b = new RabbitMQBroker({ connection: conn });
      brokers.push(b);
      await b.start(ctx(memoryLogger(lines), app));
      expect(b.queue).toBe(`qtasks.${app}`);
      await b.publish([{ envelope: envelope() }]);
      const [d] = await b.claim(1, { waitSeconds: 5 });
      expect(await b.ack(d!)).toBe(true);
      await b.stop();
      // Still usable: the broker closed its channels only.
      const ch = await conn.createChannel();
      await ch.deleteQueue(`qtasks.${app}`);
      await ch.deleteQueue(`qtasks.${app}.dead`);
      await ch.close();
    } finally {
      await conn.close();
    }
  });

  it("fails fast with a ConnectionError once a connection it was given is closed", async () => {
    const conn = await connect(AMQP_URL);
    const b = new RabbitMQBroker({ connection: conn, queue: `${prefix}.given` });
    brokers.push(b);
    await b.start(ctx(memoryLogger(lines)));
    await b.publish([{ envelope: envelope() }]);
    await conn.close();
    const err = await b.publish([{ envelope: envelope() }]).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe("QTASKS_CONNECTION");
    expect(await b.claim(1, { waitSeconds: 0.2 })).toEqual([]);
  });

  it("reports an unreachable server with a ConnectionError that does not show the password", async () => {
    const b = new RabbitMQBroker({ url: "amqp://user:s3cret-pw@127.0.0.1:1", queue: `${prefix}.nowhere` });
    const err = await b.start(ctx(memoryLogger(lines))).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe("QTASKS_CONNECTION");
    expect(String((err as Error).message)).not.toContain("s3cret-pw");
    expect(b.target).toBe(`amqp://user:***@127.0.0.1:1 queue ${prefix}.nowhere`);
  });

  it("blocks in claim without polling and wakes as soon as a message arrives", async () => {
    const b = await started();
    const p = b.claim(3, { waitSeconds: 20 });
    await sleep(300);
    const t0 = Date.now();
    await b.publish([{ envelope: envelope() }]);
    const got = await p;
    expect(got).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(5000);
    await b.ack(got[0]!);
    const ac = new AbortController();
    const blocked = b.claim(1, { waitSeconds: 20, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    expect(await blocked).toEqual([]);
  });

  it("keeps at most what the worker asked for unacked (prefetch follows free capacity)", async () => {
    const b = await started();
    await onServer(async (ch) => {
      // Ready on the server (stats() would count what the broker prefetched as ready too).
      const serverReady = async () => (await ch.checkQueue(b.queue)).messageCount;
      await b.publish(Array.from({ length: 10 }, () => ({ envelope: envelope() })));
      const first = await b.claim(2, { waitSeconds: 5 });
      expect(first).toHaveLength(2);
      await sleep(300);
      // 2 held, nothing more pushed: 8 still ready on the server.
      expect(await serverReady()).toBe(8);
      const second = await b.claim(3, { waitSeconds: 5 });
      expect(second).toHaveLength(3);
      await sleep(300);
      expect(await serverReady()).toBe(5);
      // Acking 2 frees 2 places of the 5 the worker asked for: RabbitMQ pushes 2, no more.
      for (const d of first) expect(await b.ack(d)).toBe(true);
      await sleep(300);
      expect(await serverReady()).toBe(3);
      expect((await b.stats()).ready).toEqual({ 0: 5 });
      for (const d of second) expect(await b.ack(d)).toBe(true);
    });
  });
});

describe("acks", () => {
  it("sends a turn's acks as one multiple ack, never covering a delivery still held", async () => {
    const b = await started();
    const es = Array.from({ length: 8 }, () => envelope());
    await b.publish(es.map((e) => ({ envelope: e })));
    const ds: Delivery[] = [];
    while (ds.length < 8) ds.push(...(await b.claim(8 - ds.length, { waitSeconds: 5 })));
    expect(ds.map((d) => d.envelope.uuid)).toEqual(es.map((e) => e.uuid));
    // biome-ignore lint/suspicious/noExplicitAny: watching the consumer channel's ack frames
    const cons = (b as any).session.cons;
    const frames: string[] = [];
    const ack = cons.ack.bind(cons);
    cons.ack = (m: { fields: { deliveryTag: number } }, multiple?: boolean) => {
      const i = ds.findIndex((d) => d.token.endsWith(`:${m.fields.deliveryTag}`));
      // Not one of ours: the released message pushed again, acked once its counted copy is queued.
      if (i >= 0) frames.push(`${multiple ? "<=" : ""}${i + 1}`);
      return ack(m, multiple);
    };
    // In one turn: 3 stays held, 6 goes back to the queue, the others are acked.
    const settled = await Promise.all([
      ...[1, 2, 4, 5, 7, 8].map((i) => b.ack(ds[i - 1]!)),
      b.release(ds[5]!),
    ]);
    expect(settled.every(Boolean)).toBe(true);
    await eventually(() => frames.length >= 5, 5000, "the acks to go out");
    expect(frames).toEqual(["<=2", "4", "5", "7", "8"]);
    await b.stop();
    // The held delivery went back when the connection closed, the released one when it was
    // released: those two are on the server again, and nothing else.
    const back = await onServer(async (ch) => {
      const uuids: string[] = [];
      for (;;) {
        const m = await ch.get(b.queue, { noAck: true });
        if (!m) return uuids;
        uuids.push(JSON.parse(m.content.toString()).uuid);
      }
    });
    expect(back.sort()).toEqual([es[2]!.uuid, es[5]!.uuid].sort());
  });
});

describe("acks and a dead connection", () => {
  it("an ack still queued when the connection dies is dropped, never sent on the next channel: the task comes back", async () => {
    const b = await started({ reconnect: { initialDelay: 0.05, maxDelay: 0.5 } });
    const es = Array.from({ length: 3 }, () => envelope());
    await b.publish(es.map((e) => ({ envelope: e })));
    const ds: Delivery[] = [];
    while (ds.length < 3) ds.push(...(await b.claim(3 - ds.length, { waitSeconds: 5 })));
    // biome-ignore lint/suspicious/noExplicitAny: the consumer connection's socket, to cut it mid-turn
    const socket = (b as any).session.consConn.connection.stream;
    // In one turn: the ack is queued for the end of the turn, then the socket goes.
    const acked = b.ack(ds[0]!);
    socket.destroy(new Error("cut by the test"));
    expect(await acked).toBe(true);
    // The new channel's delivery tags start at 1 again: had the queued ack (tag 1) been sent on it,
    // it would have acked another delivery, and the broker's own ack of that one would then fail with
    // "unknown delivery tag" (afterEach fails on that line). All three come back, counted twice.
    const again: Delivery[] = [];
    const deadline = Date.now() + 15_000;
    while (again.length < 3 && Date.now() < deadline)
      again.push(...(await b.claim(3 - again.length, { waitSeconds: 1 })));
    expect(again.map((d) => d.envelope.uuid).sort()).toEqual(es.map((e) => e.uuid).sort());
    expect(again.every((d) => d.deliveryCount === 2)).toBe(true);
    for (const d of again) expect(await b.ack(d)).toBe(true);
    await b.stop();
    // Those acks went out with stop(), before its channels closed: nothing is left on the server.
    expect(await onServer(async (ch) => (await ch.checkQueue(b.queue)).messageCount)).toBe(0);
  });
});

describe("acks at stop", () => {
  it("an ack queued in the same turn as stop() still reaches RabbitMQ: nothing comes back", async () => {
    const b = await started();
    await b.publish([{ envelope: envelope() }, { envelope: envelope() }]);
    const ds: Delivery[] = [];
    while (ds.length < 2) ds.push(...(await b.claim(2 - ds.length, { waitSeconds: 5 })));
    // Not awaited before stop: both acks are still queued for the end of the turn.
    const acked = Promise.all(ds.map((d) => b.ack(d)));
    await b.stop();
    expect(await acked).toEqual([true, true]);
    expect(await onServer(async (ch) => (await ch.checkQueue(b.queue)).messageCount)).toBe(0);
  });
});

describe("priorities", () => {
  it("maps core priorities onto RabbitMQ levels monotonically", () => {
    let last = -1;
    for (let p = -100; p <= 100; p++) {
      const l = priorityLevel(p, 10);
      expect(l).toBeGreaterThanOrEqual(last);
      expect(l).toBeGreaterThanOrEqual(0);
      expect(l).toBeLessThanOrEqual(10);
      last = l;
    }
    expect([-6, -5, 0, 5, 6].map((p) => priorityLevel(p, 10))).toEqual([0, 0, 5, 10, 10]);
    expect(priorityLevel(-100, 200)).toBe(0);
    expect(priorityLevel(100, 200)).toBe(200);
    expect(new Set(Array.from({ length: 201 }, (_, i) => priorityLevel(i - 100, 255))).size).toBe(201);
  });

  it("drains a backlog of mixed priorities highest first (one at a time)", async () => {
    const b = await started();
    const prios = [0, 3, -2, 5, 1, -5, 4, 2, 0, -1, 3, 5, -4, 2];
    const sent = prios.map((p) => envelope(p));
    await b.publish(sent.map((e) => ({ envelope: e })));
    const order: number[] = [];
    for (let i = 0; i < sent.length; i++) {
      const [d] = await b.claim(1, { waitSeconds: 5 });
      order.push(d!.envelope.priority);
      await b.ack(d!);
    }
    expect(order).toEqual([...prios].sort((a, z) => z - a));
    // FIFO within a priority.
    const fives = sent.filter((e) => e.priority === 5).map((e) => e.uuid);
    expect(fives).toHaveLength(2);
  });

  it("orders exactly across the whole range with maxPriority 200, FIFO within a priority", async () => {
    const b = await started({ maxPriority: 200 });
    const sent = [-100, 100, 50, -50, 0, 100, 7, -100].map((p) => envelope(p));
    await b.publish(sent.map((e) => ({ envelope: e })));
    const got: Delivery[] = [];
    while (got.length < sent.length) {
      const [d] = await b.claim(1, { waitSeconds: 5 });
      got.push(d!);
      await b.ack(d!);
    }
    const expected = sent
      .map((e, i) => ({ e, i }))
      .sort((a, z) => z.e.priority - a.e.priority || a.i - z.i)
      .map((x) => x.e.uuid);
    expect(got.map((d) => d.envelope.uuid)).toEqual(expected);
  });

  it("hands out a claimed batch highest priority first", async () => {
    const b = await started();
    const sent = [1, -3, 2, 0, 2].map((p) => envelope(p));
    await b.publish(sent.map((e) => ({ envelope: e })));
    await eventually(async () => (await b.stats()).ready[0] === 5);
    const got = await b.claim(10, { waitSeconds: 5 });
    expect(got.map((d) => d.envelope.priority)).toEqual([2, 2, 1, 0, -3]);
    expect(got[0]!.envelope.uuid).toBe(sent[2]!.uuid);
  });
});

describe("publisher confirms", () => {
  it("rejects an unroutable publish (queue deleted) with a typed error", async () => {
    const b = await started();
    await onServer((ch) => ch.deleteQueue(b.queue));
    const err = await b.publish([{ envelope: envelope() }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishUnroutableError);
    expect((err as PublishUnroutableError).code).toBe("QTASKS_RABBITMQ_UNROUTABLE");
  });

  it("confirms a bulk publish of 500 as one call, all durable on the server", async () => {
    const b = await started();
    await b.publish(Array.from({ length: 500 }, (_, i) => ({ envelope: envelope(i % 7) })));
    expect((await b.stats()).ready).toEqual({ 0: 500 });
  });
});

describe("delays", () => {
  it("makes delayed envelopes claimable after their delay, not before, in due order", async () => {
    const b = await started();
    const long = envelope(0);
    const short = envelope(0);
    const t0 = Date.now();
    await b.publish([
      { envelope: long, delay: 1.5 },
      { envelope: short, delay: 0.6 },
    ]);
    expect(await b.claim(1, { waitSeconds: 0.3 })).toEqual([]);
    const [a] = await b.claim(1, { waitSeconds: 10 });
    const ta = Date.now() - t0;
    const [z] = await b.claim(1, { waitSeconds: 10 });
    const tz = Date.now() - t0;
    expect(a!.envelope.uuid).toBe(short.uuid);
    expect(z!.envelope.uuid).toBe(long.uuid);
    expect(ta).toBeGreaterThanOrEqual(590);
    expect(tz).toBeGreaterThanOrEqual(1490);
    // Generous upper bounds: the machine is small and shared.
    expect(ta).toBeLessThan(3000);
    expect(tz).toBeLessThan(4000);
    await b.ack(a!);
    await b.ack(z!);
  });

  it("release with a delay puts the envelope back after the delay, counting the claim", async () => {
    const b = await started();
    await b.publish([{ envelope: envelope(2) }]);
    const [d] = await b.claim(1, { waitSeconds: 5 });
    const t0 = Date.now();
    expect(await b.release(d!, { delay: 0.5 })).toBe(true);
    expect(await b.ack(d!)).toBe(false);
    const [again] = await b.claim(1, { waitSeconds: 10 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(480);
    expect(again!.envelope).toEqual(d!.envelope);
    expect(again!.deliveryCount).toBe(2);
    await b.ack(again!);
  });
});

describe("leases and delivery counts", () => {
  it("releases a delivery whose lease expired; the stale delivery is refused", async () => {
    const b = await started({ leaseSeconds: 1 });
    await b.publish([{ envelope: envelope() }]);
    const [d] = await b.claim(1, { waitSeconds: 5 });
    expect(await b.extendLease(d!)).toBe(true);
    const [again] = await b.claim(1, { waitSeconds: 10 });
    expect(again!.envelope.uuid).toBe(d!.envelope.uuid);
    expect(again!.deliveryCount).toBe(2);
    expect(await b.extendLease(d!)).toBe(false);
    expect(await b.ack(d!)).toBe(false);
    expect(await b.release(d!)).toBe(false);
    expect(await b.deadLetter(d!, "x")).toBe(false);
    expect(await b.ack(again!)).toBe(true);
  });

  it("counts deliveries across released claims and worker deaths (classic)", async () => {
    const queue = `${prefix}.counts`;
    const e = envelope();
    const first = await started({}, queue);
    await first.publish([{ envelope: e }]);
    const counts: number[] = [];
    let [d] = await first.claim(1, { waitSeconds: 5 });
    counts.push(d!.deliveryCount);
    await first.release(d!);
    [d] = await first.claim(1, { waitSeconds: 5 });
    counts.push(d!.deliveryCount);
    // A worker that dies holding it: its connection goes, RabbitMQ redelivers.
    await first.stop();
    for (let i = 0; i < 2; i++) {
      const w = await started({}, queue);
      [d] = await w.claim(1, { waitSeconds: 5 });
      counts.push(d!.deliveryCount);
      await w.stop();
    }
    const last = await started({}, queue);
    [d] = await last.claim(1, { waitSeconds: 5 });
    counts.push(d!.deliveryCount);
    expect(d!.envelope).toEqual(e);
    expect(counts).toEqual([1, 2, 3, 4, 5]);
    expect(await last.ack(d!)).toBe(true);
  });

  it("counts deliveries on a quorum queue from x-delivery-count", async () => {
    const b = await started({ queueType: "quorum", deliveryLimit: 3 });
    const e = envelope(0);
    await b.publish([{ envelope: e }]);
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [d] = await b.claim(1, { waitSeconds: 5 });
      counts.push(d!.deliveryCount);
      await b.release(d!);
    }
    const [d] = await b.claim(1, { waitSeconds: 5 });
    counts.push(d!.deliveryCount);
    expect(counts).toEqual([1, 2, 3, 4]);
    expect(await b.deadLetter(d!, "delivery-limit")).toBe(true);
    const dead = await b.listDeadLetters();
    expect(dead.map((x) => [x.id, x.reason])).toEqual([[e.uuid, "delivery-limit"]]);
  });
});

describe("dead letters", () => {
  it("dead-letters with a reason, lists oldest first, re-drives by id", async () => {
    const b = await started();
    const es = [envelope(1), envelope(2), envelope(3)];
    await b.publish(es.map((e) => ({ envelope: e })));
    const got = await b.claim(3, { waitSeconds: 5 });
    for (const d of got) expect(await b.deadLetter(d, `failed ${d.envelope.priority}`)).toBe(true);
    expect(await b.ack(got[0]!)).toBe(false);
    const dead = await b.listDeadLetters();
    expect(dead.map((d) => d.reason)).toEqual(["failed 3", "failed 2", "failed 1"]);
    expect(dead[0]!.envelope).toEqual(es[2]);
    expect(dead[0]!.deadLetteredAt).toBeInstanceOf(Date);
    expect((await b.listDeadLetters({ limit: 1 })).map((d) => d.id)).toEqual([es[2]!.uuid]);
    expect((await b.stats()).deadLetters).toBe(3);
    expect(await b.redriveDeadLetters([es[0]!.uuid])).toBe(1);
    expect((await b.listDeadLetters()).map((d) => d.id)).toEqual([es[2]!.uuid, es[1]!.uuid]);
    const [again] = await b.claim(1, { waitSeconds: 5 });
    expect(again!.envelope).toEqual(es[0]);
    expect(again!.deliveryCount).toBe(1);
    await b.ack(again!);
    expect(await b.redriveDeadLetters()).toBe(2);
    expect(await b.listDeadLetters()).toEqual([]);
  });

  it("dead-letters malformed messages once with reason malformed and goes on", async () => {
    const logs = memoryLogger();
    const b = make();
    await b.start(ctx(logs));
    const good = envelope(0);
    const conn = await connect(AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      const raw: [Buffer, Record<string, unknown>][] = [
        [Buffer.from("not json at all"), {}],
        [Buffer.from(JSON.stringify({ hello: "world" })), { contentType: "application/json" }],
        [Buffer.alloc(0), {}],
        [Buffer.from(JSON.stringify(envelope(0))), { contentType: "text/plain" }],
        [Buffer.from([0xff, 0xfe, 0x00]), {}],
      ];
      for (const [body, props] of raw) ch.sendToQueue(b.queue, body, { persistent: true, ...props });
      ch.sendToQueue(b.queue, Buffer.from(JSON.stringify(good)), { contentType: "application/json" });
      await ch.waitForConfirms();
      await ch.close();
    } finally {
      await conn.close();
    }
    const got = await b.claim(10, { waitSeconds: 5 });
    expect(got.map((d) => d.envelope.uuid)).toEqual([good.uuid]);
    await b.ack(got[0]!);
    const dead = await eventually(async () => {
      const l = await b.listDeadLetters();
      return l.length === 5 ? l : undefined;
    });
    expect(dead.every((d) => d.reason === "malformed" && d.envelope === undefined)).toBe(true);
    expect(dead[0]!.raw).toBe("not json at all");
    expect(dead[2]!.raw).toBe("");
    expect(await b.redriveDeadLetters()).toBe(0);
    expect(logs.lines.filter((l) => l.message.includes("malformed"))).toHaveLength(5);
    expect(await b.claim(1, { waitSeconds: 0.3 })).toEqual([]);
  });
});

describe("connection loss", () => {
  it("reconnects after the server closes its connections mid-run; everything finishes", async () => {
    const queue = `${prefix}.reconnect`;
    const b = await started({ reconnect: { initialDelay: 0.05, maxDelay: 1 } }, queue);
    const total = 300;
    const sent = Array.from({ length: total }, (_, i) => envelope(i % 5));
    await b.publish(sent.slice(0, 150).map((e) => ({ envelope: e })));
    const done = new Set<string>();
    const staleAcks: boolean[] = [];
    let killed = false;
    let latePublish: Promise<void> | undefined;
    const deadline = Date.now() + 45_000;
    while (done.size < total && Date.now() < deadline) {
      const ds = await b.claim(10, { waitSeconds: 1 });
      if (!killed && done.size >= 60) {
        killed = true;
        expect(await closeConnectionsNamed(queue)).toBeGreaterThanOrEqual(2);
        // Publishes issued while the connection is down settle once it is back.
        latePublish = b.publish(sent.slice(150).map((e) => ({ envelope: e })));
        // Deliveries of the dead channel are stale: refused, never acked on the new channel.
        await eventually(async () => !(await b.extendLease(ds[0]!)), 5000, "stale delivery");
        for (const d of ds) staleAcks.push(await b.ack(d));
        continue;
      }
      await sleep(5);
      for (const d of ds) if (await b.ack(d)) done.add(d.envelope.uuid);
    }
    await latePublish;
    expect(staleAcks.length).toBeGreaterThan(0);
    expect(staleAcks.every((x) => x === false)).toBe(true);
    expect(done.size).toBe(total);
    expect(lines.some((l) => l.message.includes("connection restored"))).toBe(true);
    expect((await b.stats()).ready).toEqual({});
  });

  it("settles a publish pending when the connection dies (confirmed after reconnecting)", async () => {
    const queue = `${prefix}.pending`;
    const b = await started({ reconnect: { initialDelay: 0.05, maxDelay: 0.5 } }, queue);
    const p = b.publish(Array.from({ length: 2000 }, () => ({ envelope: envelope() })));
    await closeConnectionsNamed(queue);
    await p;
    const ready = (await b.stats()).ready[0] ?? 0;
    // At-least-once: every message is there, some possibly twice.
    expect(ready).toBeGreaterThanOrEqual(2000);
  });
});
