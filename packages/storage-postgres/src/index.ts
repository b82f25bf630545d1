export type { BatchOptions } from "./batcher";
export {
  type ConnectionTarget,
  DEFAULT_DATABASE_URL,
  PostgresUnreachableError,
} from "./connection";
export { LATEST_VERSION, MIGRATIONS, type Migration, migrate, migrateSchema } from "./migrations";
export { PostgresGlobalConfig, type PostgresGlobalConfigOptions } from "./postgres-global-config";
export {
  PostgresStorage,
  type PostgresStorageOptions,
  type PostgresStorageStats,
} from "./postgres-storage";
export { quoteIdent, validateSchemaName } from "./sql";
export { assertStorable, mapUnstorable } from "./unstorable";
