export { PublishNackedError, PublishUnroutableError, RabbitMQPublishError } from "./errors";
export { DEFAULT_MAX_PRIORITY, priorityLevel } from "./priority";
export { RabbitMQBroker, type RabbitMQBrokerOptions, type RabbitMQQueueType } from "./rabbitmq-broker";
