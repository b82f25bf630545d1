export { RedisBrokerCommandError, RedisUnavailableError } from "./errors";
export { type RawInjector, RedisBroker, type RedisBrokerOptions } from "./redis-broker";
