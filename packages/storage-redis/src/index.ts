export type { RedisConnectionOptions } from "./connection";
export { DEFAULT_REDIS_URL } from "./connection";
export type { RedisStorageFusion, ScriptCall } from "./fusion";
export { REDIS_STORAGE_FUSION } from "./fusion";
export type { RedisGlobalConfigOptions } from "./redis-global-config";
export { RedisGlobalConfig } from "./redis-global-config";
export type { RedisStorageOptions } from "./redis-storage";
export { RedisStorage } from "./redis-storage";
