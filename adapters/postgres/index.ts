/**
 * `jetflow/postgres`: Persistence, JobTransport and ActivityTaskStore on postgres.js, plus the
 * schema migrations they need (`migrate(sql, { schema })` before first use).
 */

// Port implementations
export { createPostgresPersistence, PostgresPersistence } from "./persistence.js";
export { createPostgresJobTransport, PostgresJobTransport } from "./job-transport.js";
export { createPostgresActivityTaskStore, PostgresActivityTaskStore } from "./activity-task-store.js";

// Schema migrations
export { migrate, migrationStatus, loadMigrations, defaultMigrationsDir, MigrationError } from "./migrate.js";

// Option types
export type { PostgresPersistenceOptions } from "./persistence.js";
export type { PostgresJobTransportOptions } from "./job-transport.js";
export type { PostgresActivityTaskStoreOptions } from "./activity-task-store.js";

// Migration types
export type { MigrateOptions, MigrationFile, MigrationStatus, AppliedMigration } from "./migrate.js";
