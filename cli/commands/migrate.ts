import type { Command } from "commander";
import postgres from "postgres";
import { z } from "zod";
import { MigrationError, migrate, migrationStatus, type MigrationStatus } from "../../adapters/postgres/migrate.js";
import { JetflowError } from "../../src/contract/errors.js";
import { parseOptions } from "../shared/parse-options.js";

const MigrateOptions = z.object({
  databaseUrl: z
    .string({ message: "required: pass --database-url <url> or set JETFLOW_DATABASE_URL (or DATABASE_URL)" })
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL"),
  schema: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, "must be a plain identifier (letters, digits, underscore)")
    .default("jetflow"),
  status: z.boolean().default(false),
});

/** The same variables, in the same order, as the orchestrator reads (orchestrator/config.ts). */
function databaseUrlFromEnv(): string | undefined {
  return process.env.JETFLOW_DATABASE_URL || process.env.DATABASE_URL || undefined;
}

function printStatus(s: MigrationStatus): void {
  const lines = [`schema ${s.schema}`];
  for (const a of s.applied) lines.push(`  applied  ${String(a.version).padStart(4, "0")}_${a.name}  ${a.appliedAt.toISOString()}`);
  for (const p of s.pending) lines.push(`  pending  ${p.file}`);
  for (const m of s.mismatched) lines.push(`  MISMATCH ${String(m.version).padStart(4, "0")}_${m.name}  ${m.problem.replace("_", " ")}`);
  lines.push(`${s.applied.length} applied, ${s.pending.length} pending`);
  process.stdout.write(`${lines.join("\n")}\n`);
}

/**
 * `jetflow migrate [--database-url <url>] [--schema jetflow] [--status]`: applies pending schema
 * migrations (safe to run from several deploys at once: they serialise on an advisory lock), or
 * with --status only lists applied and pending ones. Failures exit non-zero naming the file.
 */
export function register(program: Command): void {
  program
    .command("migrate")
    .description("create or upgrade jetflow's Postgres schema (or list applied/pending migrations with --status)")
    .option("--database-url <url>", "Postgres connection URL (env JETFLOW_DATABASE_URL, else DATABASE_URL)")
    .option("--schema <name>", "schema holding jetflow's tables", "jetflow")
    .option("--status", "only list applied and pending migrations")
    .action(async (raw: Record<string, unknown>) => {
      const opts = parseOptions(MigrateOptions, { ...raw, databaseUrl: raw.databaseUrl ?? databaseUrlFromEnv() });
      const sql = postgres(opts.databaseUrl, { max: 2, onnotice: () => {}, connect_timeout: 10 });
      try {
        if (!opts.status) {
          const applied = await migrate(sql, { schema: opts.schema });
          process.stdout.write(
            applied.length ? `applied ${applied.map((v) => String(v).padStart(4, "0")).join(", ")}\n` : "schema is up to date\n",
          );
        }
        const status = await migrationStatus(sql, { schema: opts.schema });
        printStatus(status);
        if (status.mismatched.length > 0) process.exitCode = 1;
      } catch (err) {
        if (err instanceof MigrationError) throw err;
        // Name the server (never the password) so "ECONNREFUSED" says which one.
        const u = new URL(opts.databaseUrl);
        throw new JetflowError("UNAVAILABLE", `migrate on ${u.hostname}:${u.port || 5432}${u.pathname} failed: ${(err as Error).message}`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    });
}
