// Migrations: applied once and recorded, re-running is a no-op, concurrent callers do not
// conflict, a failing file rolls back alone (schema stays at the version before it) and the
// error names it, status lists applied and pending, edited files are detected.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { MigrationError, defaultMigrationsDir, loadMigrations, migrate, migrationStatus } from "../../adapters/postgres/migrate.js";
import { client, freshSchema } from "./helpers.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
const sql = svc ? client(svc.postgres.url) : null;
const dirs: string[] = [];

function tempMigrations(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "jetflow-mig-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function tableExists(schema: string, table: string): Promise<boolean> {
  const rows = await sql!`select to_regclass(${`"${schema}".${table}`}) as t`;
  return rows[0]!.t !== null;
}

t("the package's migrations are found next to the adapter and numbered from 0001", () => {
  const files = loadMigrations();
  assert.ok(defaultMigrationsDir().endsWith(join("adapters", "postgres", "migrations")));
  assert.equal(files[0]!.version, 1);
  assert.equal(files[0]!.file, "0001_init.sql");
});

t("migrate creates every table, records the version, and a second run is a no-op", async () => {
  const schema = freshSchema();
  const shipped = loadMigrations();
  const versions = shipped.map((m) => m.version);
  const before = await migrationStatus(sql!, { schema });
  assert.equal(before.applied, []);
  assert.equal(
    before.pending.map((p) => p.version),
    versions,
  );

  assert.equal(await migrate(sql!, { schema }), versions);
  for (const table of [
    "runs",
    "stages",
    "logs",
    "artifacts",
    "outbox",
    "idempotency_keys",
    "annotations",
    "ai_calls",
    "activity_tasks",
    "jobs",
    "migrations",
  ]) {
    assert.ok(await tableExists(schema, table), `${table} exists`);
  }
  const status = await migrationStatus(sql!, { schema });
  assert.equal(
    status.applied.map((a) => [a.version, a.name]),
    shipped.map((m) => [m.version, m.name]),
  );
  assert.equal(status.applied[0]!.name, "init");
  assert.ok(status.applied[0]!.appliedAt instanceof Date);
  assert.equal(status.pending, []);
  assert.equal(status.mismatched, []);

  assert.equal(await migrate(sql!, { schema }), [], "nothing left to apply");
  const rows = await sql!.unsafe(`select count(*)::int as n from "${schema}".migrations`);
  assert.equal(rows[0]!.n, versions.length);
});

t("concurrent migrate calls (separate clients) apply each version exactly once", async () => {
  const schema = freshSchema();
  const clients = Array.from({ length: 5 }, () => client(svc!.postgres.url, 2));
  try {
    const results = await Promise.all(clients.map((c) => migrate(c, { schema })));
    assert.equal(
      results.flat().sort((a, b) => a - b),
      loadMigrations().map((m) => m.version),
      `applied by exactly one caller: ${JSON.stringify(results)}`,
    );
    assert.equal((await migrationStatus(sql!, { schema })).pending, []);
  } finally {
    await Promise.all(clients.map((c) => c.end({ timeout: 5 })));
  }
});

t("a failing migration rolls back alone: the schema stays at the previous version and the error names the file", async () => {
  const schema = freshSchema();
  const dir = tempMigrations({
    "0001_first.sql": "create table {{schema}}.a (id int primary key);",
    "0002_second.sql": "create table {{schema}}.b (id int primary key);\ninsert into {{schema}}.b values (1);",
    "0003_broken.sql": "create table {{schema}}.c (id int);\ninsert into {{schema}}.missing_table values (1);",
    "0004_after.sql": "create table {{schema}}.d (id int);",
  });
  const err = await migrate(sql!, { schema, dir }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err instanceof MigrationError, `a MigrationError, got ${String(err)}`);
  assert.ok((err as MigrationError).message.includes("0003_broken.sql"), (err as Error).message);
  assert.equal((err as MigrationError).file, "0003_broken.sql");
  assert.ok((err as Error).message.includes("missing_table"), "the database's reason is kept");

  const status = await migrationStatus(sql!, { schema, dir });
  assert.equal(
    status.applied.map((a) => a.version),
    [1, 2],
  );
  assert.equal(
    status.pending.map((p) => p.file),
    ["0003_broken.sql", "0004_after.sql"],
  );
  assert.ok(await tableExists(schema, "b"));
  assert.not.ok(await tableExists(schema, "c"), "the failed file's own statements rolled back");
  assert.not.ok(await tableExists(schema, "d"), "later files are not applied");

  // Fixing the file lets the next run continue from version 2.
  writeFileSync(join(dir, "0003_broken.sql"), "create table {{schema}}.c (id int);");
  assert.equal(await migrate(sql!, { schema, dir }), [3, 4]);
});

t("a migration edited after it was applied is reported and refused", async () => {
  const schema = freshSchema();
  const dir = tempMigrations({ "0001_first.sql": "create table {{schema}}.a (id int);" });
  await migrate(sql!, { schema, dir });
  writeFileSync(join(dir, "0001_first.sql"), "create table {{schema}}.a (id int, extra text);");
  const status = await migrationStatus(sql!, { schema, dir });
  assert.equal(status.mismatched, [{ version: 1, name: "first", problem: "checksum_changed" }]);
  try {
    await migrate(sql!, { schema, dir });
    assert.unreachable("an edited migration must be refused");
  } catch (e) {
    assert.instance(e, MigrationError);
    assert.match((e as Error).message, /0001_first\.sql was changed/);
  }
});

t("schema names that are not plain identifiers are refused before any SQL runs", async () => {
  for (const bad of ['x"; drop table y; --', "1abc", "", "a-b"]) {
    try {
      await migrate(sql!, { schema: bad });
      assert.unreachable(`schema ${JSON.stringify(bad)} accepted`);
    } catch (e) {
      assert.match((e as Error).message, /schema/);
    }
  }
});

t("badly named migration files are refused", () => {
  const dir = tempMigrations({ "1_x.sql": "select 1;" });
  assert.throws(() => loadMigrations(dir), /NNNN_name\.sql/);
});

test.after(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await sql?.end({ timeout: 5 });
  await svc?.stop();
});
test.run();
