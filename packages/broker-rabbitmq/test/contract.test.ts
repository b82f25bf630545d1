import { randomUUID } from "node:crypto";
import { describeBrokerContract } from "@qtasks/test-suite";
import { afterAll } from "vitest";
import { priorityLevel, RabbitMQBroker } from "../src";
import { AMQP_URL, deleteQueues, uniquePrefix } from "./helpers";

const prefix = uniquePrefix("contract");

afterAll(async () => {
  await deleteQueues(prefix);
});

// The contract on the default classic queue. Quorum queues pass everything but the two priority
// tests (RabbitMQ 3.10 quorum queues are FIFO only; see the README); test/quorum.test.ts covers them.
describeBrokerContract({
  name: "RabbitMQBroker (classic queue)",
  // TTL queues expire their head within a few ms; 100 ms is the promise.
  delayToleranceMs: 100,
  async create({ leaseSeconds, deliveryLimit }) {
    const queue = `${prefix}.${randomUUID().slice(0, 8)}`;
    const broker = new RabbitMQBroker({ url: AMQP_URL, queue, leaseSeconds, deliveryLimit });
    return {
      broker,
      // As a foreign producer would: raw bytes, no content type, straight to the queue.
      injectRaw: (raw, priority) =>
        broker.publishRaw(Buffer.from(raw), { persistent: true, priority: priorityLevel(priority, 10) }),
      cleanup: () => deleteQueues(queue),
    };
  },
});
