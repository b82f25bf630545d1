import { randomUUID } from "node:crypto";
import { connect } from "amqplib";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RabbitMQBroker, type RabbitMQBrokerOptions } from "../src";
import {
  AMQP_URL,
  closeConnectionsNamed,
  ctx,
  deleteQueues,
  envelope,
  eventually,
  type LogLine,
  memoryLogger,
  sleep,
  uniquePrefix,
} from "./helpers";

const prefix = uniquePrefix("quorum");
const brokers: RabbitMQBroker[] = [];
let lines: LogLine[] = [];

async function started(options: Partial<RabbitMQBrokerOptions> = {}) {
  const queue = `${prefix}.${randomUUID().slice(0, 8)}`;
  const b = new RabbitMQBroker({
    url: AMQP_URL,
    queue,
    connectionName: queue,
    queueType: "quorum",
    ...options,
  });
  brokers.push(b);
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

describe("RabbitMQBroker on a quorum queue", () => {
  it("declares a quorum queue with a delivery-limit backstop above deliveryLimit", async () => {
    expect(
      () => new RabbitMQBroker({ queueType: "quorum", deliveryLimit: 5, quorumDeliveryLimit: 5 }),
    ).toThrow(/quorumDeliveryLimit/);
    const b = await started({ deliveryLimit: 2 });
    // Re-declaring with the same arguments is accepted; a classic declaration of it is not.
    const conn = await connect(AMQP_URL);
    try {
      const ch = await conn.createChannel();
      ch.on("error", () => undefined);
      const err = await ch.assertQueue(b.queue, { durable: true }).catch((e: unknown) => e);
      expect(String(err)).toMatch(/PRECONDITION_FAILED|inequivalent/);
    } finally {
      await conn.close().catch(() => undefined);
    }
  });

  it("is FIFO (no priorities on 3.10) and counts redeliveries after a lease expiry", async () => {
    const b = await started({ leaseSeconds: 1 });
    const es = [envelope(-5), envelope(5), envelope(0)];
    await b.publish(es.map((e) => ({ envelope: e })));
    const [first] = await b.claim(1, { waitSeconds: 5 });
    expect(first!.envelope.uuid).toBe(es[0]!.uuid);
    const [second] = await b.claim(1, { waitSeconds: 5 });
    expect(await b.ack(second!)).toBe(true);
    // `first` is neither acked nor renewed: its lease expires and it comes back, counted.
    const got = new Map<string, number>();
    await eventually(async () => {
      for (const d of await b.claim(5, { waitSeconds: 0.5 })) {
        got.set(d.envelope.uuid, d.deliveryCount);
        await b.ack(d);
      }
      return got.size === 2;
    });
    expect(got.get(es[0]!.uuid)).toBe(2);
    expect(got.get(es[2]!.uuid)).toBe(1);
    expect(await b.ack(first!)).toBe(false);
  });

  it("release with a delay keeps the count; dead letters list oldest first and re-drive", async () => {
    const b = await started();
    const es = [envelope(), envelope()];
    await b.publish(es.map((e) => ({ envelope: e })));
    const ds = await b.claim(2, { waitSeconds: 5 });
    expect(await b.release(ds[0]!, { delay: 0.3 })).toBe(true);
    const [back] = await b.claim(1, { waitSeconds: 5 });
    expect(back!.envelope.uuid).toBe(es[0]!.uuid);
    expect(back!.deliveryCount).toBe(2);
    expect(await b.deadLetter(back!, "first")).toBe(true);
    expect(await b.deadLetter(ds[1]!, "second")).toBe(true);
    for (let i = 0; i < 2; i++) {
      expect((await b.listDeadLetters({ limit: 1 })).map((d) => d.reason)).toEqual(["first"]);
      expect((await b.listDeadLetters()).map((d) => d.reason)).toEqual(["first", "second"]);
    }
    expect(await b.redriveDeadLetters([es[1]!.uuid])).toBe(1);
    const [again] = await b.claim(1, { waitSeconds: 5 });
    expect(again!.envelope).toEqual(es[1]);
    expect(again!.deliveryCount).toBe(1);
    expect((await b.stats()).deadLetters).toBe(1);
  });

  it("dead-letters malformed messages and survives its connections being closed", async () => {
    const b = await started({ reconnect: { initialDelay: 0.05, maxDelay: 0.5 } });
    await b.publishRaw(Buffer.from("nope"));
    const good = envelope();
    await b.publish([{ envelope: good }]);
    const [d] = await b.claim(5, { waitSeconds: 5 });
    expect(d!.envelope).toEqual(good);
    expect(await closeConnectionsNamed(b.queue)).toBeGreaterThanOrEqual(2);
    await eventually(async () => !(await b.extendLease(d!)), 5000, "stale delivery");
    expect(await b.ack(d!)).toBe(false);
    await sleep(100);
    // Redelivered on the new connection, counted by RabbitMQ.
    const [again] = await b.claim(1, { waitSeconds: 10 });
    expect(again!.envelope).toEqual(good);
    expect(again!.deliveryCount).toBe(2);
    expect(await b.ack(again!)).toBe(true);
    const dead = await b.listDeadLetters();
    expect(dead.map((x) => [x.reason, x.raw])).toEqual([["malformed", "nope"]]);
  });
});
