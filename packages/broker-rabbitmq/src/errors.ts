import { QTasksError } from "@qtasks/core";

/** A publish RabbitMQ did not take. Nothing of it can be assumed queued. */
export class RabbitMQPublishError extends QTasksError {
  constructor(
    code: string,
    message: string,
    /** The queue the message was routed to. */
    readonly queue: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** RabbitMQ returned a mandatory publish: no queue was bound to take it (the queue was deleted). */
export class PublishUnroutableError extends RabbitMQPublishError {
  constructor(queue: string) {
    super(
      "QTASKS_RABBITMQ_UNROUTABLE",
      `RabbitMQ returned the message as unroutable: queue ${JSON.stringify(queue)} does not exist`,
      queue,
    );
  }
}

/** RabbitMQ nacked a publish (an internal error in the queue, or a rejecting overflow policy). */
export class PublishNackedError extends RabbitMQPublishError {
  constructor(queue: string, options?: { cause?: unknown }) {
    super(
      "QTASKS_RABBITMQ_NACKED",
      `RabbitMQ nacked the message published to ${JSON.stringify(queue)}`,
      queue,
      options,
    );
  }
}
