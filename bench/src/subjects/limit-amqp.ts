import { randomUUID } from "node:crypto";
import { encodeEnvelope } from "@qtasks/core";
import amqp from "amqplib";
import { AMQP_URL, sleep } from "../env";
import type { Instance, Subject } from "../types";
import { Consumer } from "./consume";

/**
 * The RabbitMQ floor: a durable classic queue, persistent messages published on a confirm channel
 * (one confirm awaited per task; bulk: a chunk published, then one wait for its confirms), and a
 * consumer with manual acks and prefetch 50; handlers run `concurrency` at a time.
 *
 * With `priority`, the same on a queue declared with `x-max-priority: 10` and messages at priority 5
 * (what `RabbitMQBroker` declares and sends for priority 0): what a priority queue itself allows.
 *
 * With `envelope` (issue 6 asks for "a bare amqplib consumer that acks the same messages"): the
 * priority queue, and the messages `RabbitMQBroker` publishes for the bench's task: a qtasks envelope
 * as JSON (about 140 bytes) with its content type, type and delivery-count header. The size matters
 * to RabbitMQ here: on a queue with `x-max-priority: 10`, bodies above 64 bytes (Erlang's limit for
 * binaries kept on a process heap) made a bare consumer's drain about 3x slower in a probe.
 */
function amqpLimitSubject(priority: boolean, envelope = false): Subject {
  return {
    id: envelope ? "limit-rabbitmq-envelope" : priority ? "limit-rabbitmq-priority" : "limit-rabbitmq",
    label: envelope
      ? "limit: bare amqplib, priority queue, qtasks messages"
      : priority
        ? "limit: bare amqplib, priority queue"
        : "limit: bare amqplib",
    kind: "limit",
    services: ["rabbitmq"],
    settings: envelope
      ? "as the priority-queue limit, with the messages RabbitMQBroker publishes (qtasks envelope JSON, ~140 bytes, content type, type, x-qtasks-deliveries header)"
      : `amqplib 2; durable classic queue${priority ? " with x-max-priority 10, messages at priority 5" : ""}, persistent messages, confirm channel (await each confirm; bulk: one waitForConfirms per chunk); consumer with manual acks, prefetch 50, handlers run \`concurrency\` at a time`,
    async available() {
      try {
        const c = await amqp.connect(AMQP_URL);
        await c.close();
        return null;
      } catch (e) {
        return `RabbitMQ unreachable (${(e as Error).message})`;
      }
    },
    async create(tag) {
      const queue = `bench.${tag}`;
      const pubConn = await amqp.connect(AMQP_URL);
      const consConn = await amqp.connect(AMQP_URL);
      const pub = await pubConn.createConfirmChannel();
      await pub.assertQueue(queue, {
        durable: true,
        ...(priority ? { arguments: { "x-max-priority": 10 } } : {}),
      });
      const props = {
        persistent: true,
        contentType: "application/json",
        ...(priority ? { priority: 5 } : {}),
        ...(envelope ? { type: "noop", headers: { "x-qtasks-deliveries": 0 } } : {}),
      };
      const body = (i: number) =>
        Buffer.from(
          envelope
            ? encodeEnvelope({
                v: 1,
                uuid: randomUUID(),
                taskName: "noop",
                args: [{ i }],
                priority: 0,
                retries: 0,
                enqueuedAt: Date.now(),
              })
            : JSON.stringify({ i }),
        );
      const indexOf = (content: Buffer): number => {
        const m = JSON.parse(content.toString()) as { i?: number; args?: [{ i: number }] };
        return envelope ? m.args![0].i : m.i!;
      };
      let cons: amqp.Channel | undefined;
      let acked = 0;
      const publish = (i: number) => pub.sendToQueue(queue, body(i), props);
      const inst: Instance = {
        async add(i) {
          await new Promise<void>((resolve, reject) => {
            pub.sendToQueue(queue, body(i), props, (err) => (err ? reject(err) : resolve()));
          });
        },
        async addBulk(items) {
          for (const i of items) publish(i);
          await pub.waitForConfirms();
        },
        async startWorker(concurrency, onRun) {
          const ch = await consConn.createChannel();
          cons = ch;
          // Prefetch 50 whatever the concurrency: RabbitMQ pushes ahead, the handlers run `concurrency`
          // at a time, acks go out as they finish (an ack has no reply).
          await ch.prefetch(50);
          const consumer = new Consumer<amqp.ConsumeMessage>({
            concurrency,
            prefetch: 50,
            finish: async (msgs) => {
              for (const msg of msgs) ch.ack(msg);
              acked += msgs.length;
            },
            run: (msg) => onRun(indexOf(msg.content)),
          });
          await ch.consume(queue, (msg) => {
            if (msg) consumer.push(msg);
          });
        },
        async finalCount() {
          // AMQP acks are not confirmed; the acks sent are the final state this floor can see.
          return acked;
        },
        async states() {
          const q = await pub.checkQueue(queue);
          return { ready: q.messageCount, acked };
        },
        async close() {
          try {
            if (cons) await cons.close();
          } catch {}
          await sleep(50);
          await pub.deleteQueue(queue).catch(() => {});
          await pubConn.close().catch(() => {});
          await consConn.close().catch(() => {});
        },
      };
      return inst;
    },
  };
}

export const amqpLimit = amqpLimitSubject(false);
export const amqpPriorityLimit = amqpLimitSubject(true);
export const amqpEnvelopeLimit = amqpLimitSubject(true, true);
