/**
 * Shared plumbing for the Postgres integration tests: a client on the file's own database and
 * throwaway schemas (one per conformance case) migrated with the package's migrations.
 */
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { migrate } from "../../adapters/postgres/migrate.js";

/** A client for tests; notices ("schema ... does not exist, skipping") are not test output. */
export function client(url: string, max = 10, fastCommit = false): postgres.Sql {
  // synchronous_commit=off only trades crash durability of the last commits for speed: the
  // multi-process tests share a small, busy machine; no test crashes the server.
  return postgres(url, { max, onnotice: () => {}, idle_timeout: 5, ...(fastCommit ? { connection: { synchronous_commit: "off" } } : {}) });
}

/** A fresh schema name `t_<random>` (valid identifier, unique per call). */
export function freshSchema(): string {
  return `t_${randomBytes(6).toString("hex")}`;
}

/** Creates and migrates a fresh schema; `drop()` removes it with everything in it. */
export async function migratedSchema(sql: postgres.Sql): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = freshSchema();
  await migrate(sql, { schema });
  return {
    schema,
    drop: async () => {
      await sql.unsafe(`drop schema if exists "${schema}" cascade`);
    },
  };
}

/** Polls `probe` until truthy or fails after `timeoutMs` naming `what` (a bounded wait on a condition). */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * migratedSchema() with the next schema migrated in the background while the current case
 * runs: each case still gets its own fresh schema, without waiting for its migration.
 */
export function schemaSupply(sql: postgres.Sql): () => Promise<{ schema: string; drop(): Promise<void> }> {
  let next: Promise<{ schema: string; drop(): Promise<void> }> | null = null;
  return async () => {
    const current = next ?? migratedSchema(sql);
    next = migratedSchema(sql);
    // A prefetch nobody takes (the last one) is dropped with the database; don't leave its
    // failure unhandled in the meantime — the next take() reports it.
    next.catch(() => {});
    return await current;
  };
}
