export type { RedisConnectionOptions } from "./connection";
export { DEFAULT_REDIS_URL } from "./connection";
export type { RedisGlobalConfigOptions } from "./redis-global-config";
export { RedisGlobalConfig } from "./redis-global-config";
export type { RedisStorageOptions } from "./redis-storage";
export { RedisStorage } from "./redis-storage";
