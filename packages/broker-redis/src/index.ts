export { RedisBrokerCommandError, RedisUnavailableError } from "./errors";
export { RedisBroker, type RawInjector, type RedisBrokerOptions } from "./redis-broker";
