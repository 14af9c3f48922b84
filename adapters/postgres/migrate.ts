/**
 * Versioned SQL migrations for jetflow's Postgres schema. Files `NNNN_name.sql` in
 * adapters/postgres/migrations are applied in order, each in its own transaction under a
 * transaction-level advisory lock keyed by the schema name, and recorded in
 * `<schema>.migrations`. Concurrent callers serialise on the lock and the later ones find
 * nothing to do; a failing file rolls back alone and leaves the schema at the previous version.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type postgres from "postgres";
import { JetflowError } from "../../src/contract/errors.js";
import { safeBegin } from "./safe-begin.js";
import { quoteSchema } from "./schema-name.js";
import { parseMigrateOptions } from "./options.js";

/** One migration file. */
export interface MigrationFile {
  version: number;
  name: string;
  file: string;
  /** sha256 of the file text (before the schema is substituted). */
  checksum: string;
  text: string;
}

/** Options of {@link migrate} and {@link migrationStatus}. */
export interface MigrateOptions {
  /** Schema to create/upgrade. Default "jetflow". */
  schema?: string;
  /** Directory of `NNNN_name.sql` files. Default: the package's adapters/postgres/migrations. */
  dir?: string;
}

/** A migration recorded as applied in the schema's migrations table. */
export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  appliedAt: Date;
}

/** Which migrations are applied and which are pending. */
export interface MigrationStatus {
  schema: string;
  applied: AppliedMigration[];
  pending: Array<Pick<MigrationFile, "version" | "name" | "file">>;
  /** Applied versions whose file is missing or whose checksum differs (edited after release). */
  mismatched: Array<{ version: number; name: string; problem: "missing_file" | "checksum_changed" }>;
}

/** A migration failed or the recorded history does not match the files. */
export class MigrationError extends JetflowError {
  constructor(
    message: string,
    readonly file?: string,
    cause?: unknown,
  ) {
    super("INTERNAL", message, cause === undefined ? undefined : { cause: String(cause) });
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}

const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/**
 * The package's migrations directory. The module runs from adapters/postgres (tsx) or
 * dist/adapters/postgres (built, where no .sql is copied), so look next to this file first, then
 * walk up to the package root.
 */
export function defaultMigrationsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const local = join(here, "migrations");
  if (existsSync(local)) return local;
  let dir = here;
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      const name = (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name;
      const candidate = join(dir, "adapters", "postgres", "migrations");
      if (name === "jetflow" && existsSync(candidate)) return candidate;
    }
    dir = dirname(dir);
  }
  throw new MigrationError(`cannot find jetflow's adapters/postgres/migrations directory above ${here}`);
}

/** Reads and orders the migration files of `dir`; a malformed name or duplicate version throws. */
export function loadMigrations(dir: string = defaultMigrationsDir()): MigrationFile[] {
  const out: MigrationFile[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith(".sql")) continue;
    const m = FILE_RE.exec(file);
    if (!m) throw new MigrationError(`migration file name "${file}" does not match NNNN_name.sql`, file);
    const text = readFileSync(join(dir, file), "utf8");
    const version = Number(m[1]);
    if (out.some((x) => x.version === version)) throw new MigrationError(`two migration files have version ${version}`, file);
    out.push({ version, name: m[2]!, file, text, checksum: createHash("sha256").update(text).digest("hex") });
  }
  return out.sort((a, b) => a.version - b.version);
}

/** Takes the schema's migration lock for the rest of the transaction (key derived from the name). */
async function lock(tx: postgres.TransactionSql, schema: string): Promise<void> {
  await tx`select pg_advisory_xact_lock(hashtextextended(${`jetflow.migrate:${schema}`}, 0))`;
}

async function ensureHistoryTable(sql: postgres.Sql, schema: string): Promise<void> {
  const q = quoteSchema(schema);
  await safeBegin(sql, async (tx) => {
    await lock(tx, schema);
    await tx.unsafe(`create schema if not exists ${q}`);
    await tx.unsafe(
      `create table if not exists ${q}.migrations (
         version integer primary key, name text not null, checksum text not null,
         applied_at timestamptz not null default now())`,
    );
  });
}

async function readApplied(sql: postgres.Sql | postgres.TransactionSql, schema: string): Promise<AppliedMigration[]> {
  const exists = await sql<{ t: string | null }[]>`select to_regclass(${`${quoteSchema(schema)}.migrations`}) as t`;
  if (!exists[0]?.t) return [];
  const rows = await sql.unsafe<{ version: number; name: string; checksum: string; applied_at: Date }[]>(
    `select version, name, checksum, applied_at from ${quoteSchema(schema)}.migrations order by version`,
  );
  return rows.map((r) => ({ version: r.version, name: r.name, checksum: r.checksum, appliedAt: r.applied_at }));
}

/**
 * Applies every pending migration in order and returns the versions applied by this call
 * (empty when the schema was already current, or another process applied them first).
 */
export async function migrate(sql: postgres.Sql, options: MigrateOptions = {}): Promise<number[]> {
  const opts = parseMigrateOptions(options);
  const schema = opts.schema;
  const q = quoteSchema(schema);
  const files = loadMigrations(opts.dir);
  await ensureHistoryTable(sql, schema);
  const done: number[] = [];
  for (const m of files) {
    try {
      const applied = await safeBegin(sql, async (tx) => {
        await lock(tx, schema);
        const prior = await tx.unsafe<{ checksum: string }[]>(`select checksum from ${q}.migrations where version = $1`, [m.version]);
        if (prior.length > 0) {
          if (prior[0]!.checksum !== m.checksum) {
            throw new MigrationError(
              `migration ${m.file} was changed after it was applied to schema "${schema}" (checksum differs); add a new migration instead`,
              m.file,
            );
          }
          return false;
        }
        // Simple protocol: a file holds many statements.
        await tx.unsafe(m.text.replaceAll("{{schema}}", q)).simple();
        await tx.unsafe(`insert into ${q}.migrations (version, name, checksum) values ($1, $2, $3)`, [m.version, m.name, m.checksum]);
        return true;
      });
      if (applied) done.push(m.version);
    } catch (err) {
      if (err instanceof MigrationError) throw err;
      throw new MigrationError(
        `migration ${m.file} failed on schema "${schema}" and was rolled back: ${(err as Error).message}`,
        m.file,
        err,
      );
    }
  }
  return done;
}

/** Applied and pending migrations of `schema`, without changing anything. */
export async function migrationStatus(sql: postgres.Sql, options: MigrateOptions = {}): Promise<MigrationStatus> {
  const opts = parseMigrateOptions(options);
  const schema = opts.schema;
  quoteSchema(schema);
  const files = loadMigrations(opts.dir);
  const applied = await readApplied(sql, schema);
  const byVersion = new Map(files.map((f) => [f.version, f]));
  const appliedSet = new Set(applied.map((a) => a.version));
  const mismatched: MigrationStatus["mismatched"] = [];
  for (const a of applied) {
    const f = byVersion.get(a.version);
    if (!f) mismatched.push({ version: a.version, name: a.name, problem: "missing_file" });
    else if (f.checksum !== a.checksum) mismatched.push({ version: a.version, name: a.name, problem: "checksum_changed" });
  }
  return {
    schema,
    applied,
    pending: files.filter((f) => !appliedSet.has(f.version)).map(({ version, name, file }) => ({ version, name, file })),
    mismatched,
  };
}
