/**
 * `jetflow/postgres`: Persistence, JobTransport and ActivityTaskStore on postgres.js, plus the
 * schema migrations they need (`migrate(sql, { schema })` before first use).
 */
export { createPostgresPersistence, PostgresPersistence, type PostgresPersistenceOptions } from "./persistence.js";
export { createPostgresJobTransport, PostgresJobTransport, type PostgresJobTransportOptions } from "./job-transport.js";
export { createPostgresActivityTaskStore, PostgresActivityTaskStore, type PostgresActivityTaskStoreOptions } from "./activity-task-store.js";
export {
  migrate,
  migrationStatus,
  loadMigrations,
  defaultMigrationsDir,
  MigrationError,
  type MigrateOptions,
  type MigrationFile,
  type MigrationStatus,
  type AppliedMigration,
} from "./migrate.js";
