/**
 * The Postgres half of the harness: each usePostgres() call is a fresh, private database
 * that stop() really drops, whichever server provides it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import postgres from "postgres";
import { usePostgres, type PostgresService } from "../../integration/harness/index.js";
import { acquireCluster, findClusterTools } from "../../integration/harness/pg-cluster.js";
import { portRefuses } from "../../integration/harness/net.js";

delete process.env.JETFLOW_TEST_DATABASE_URL;
process.env.JETFLOW_TEST_NO_CONTAINERS = "1";

const started: PostgresService[] = [];
async function pg(): Promise<PostgresService> {
  const s = await usePostgres();
  started.push(s);
  return s;
}

async function query<T extends object>(url: string, fn: (sql: postgres.Sql) => Promise<T[]>): Promise<T[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function databaseExists(adminUrl: string, name: string): Promise<boolean> {
  const rows = await query(adminUrl, (sql) => sql`select 1 from pg_database where datname = ${name}`);
  return rows.length === 1;
}

test("each call gets its own fresh, empty database", async () => {
  const [a, b] = await Promise.all([pg(), pg()]);
  assert.is.not(a.database, b.database);
  assert.match(a.database, /^jetflow_t_[0-9a-f]+$/);
  const [current] = await query(a.url, (sql) => sql<{ db: string }[]>`select current_database() as db`);
  assert.is(current!.db, a.database, "url points at the fresh database");
  const tables = await query(a.url, (sql) => sql`select 1 from pg_tables where schemaname not in ('pg_catalog', 'information_schema')`);
  assert.is(tables.length, 0, "a fresh database has no user tables");
  await query(a.url, (sql) => sql`create table only_in_a (id int)`);
  const seen = await query(b.url, (sql) => sql`select 1 from pg_tables where tablename = 'only_in_a'`);
  assert.is(seen.length, 0, "b must not see a's table");
});

test("stop() drops the database even while a client is still connected", async () => {
  const s = await pg();
  assert.ok(await databaseExists(s.adminUrl, s.database));
  const leaked = postgres(s.url, { max: 1, onnotice: () => {} });
  await leaked`select 1`;
  await s.stop();
  assert.not.ok(await databaseExists(s.adminUrl, s.database), "database must be gone after stop()");
  await s.stop(); // idempotent
  await leaked.end({ timeout: 0 }).catch((err: unknown) => {
    // the server already terminated this connection (FORCE); ending it may report that
    assert.ok(err instanceof Error);
  });
});

test("adminUrl reaches the server's postgres database for admin work", async () => {
  const s = await pg();
  const [row] = await query(s.adminUrl, (sql) => sql<{ db: string }[]>`select current_database() as db`);
  assert.is(row!.db, "postgres");
});

test("JETFLOW_TEST_DATABASE_URL wins when set, and still yields a fresh database", async () => {
  const base = await pg();
  process.env.JETFLOW_TEST_DATABASE_URL = base.adminUrl;
  try {
    const s = await pg();
    assert.is(s.source, "env");
    assert.is(s.adminUrl, base.adminUrl);
    assert.is.not(s.database, base.database);
    await s.stop();
    assert.not.ok(await databaseExists(base.adminUrl, s.database));
  } finally {
    delete process.env.JETFLOW_TEST_DATABASE_URL;
  }
});

const tools = findClusterTools();
const tc = tools.binDir && !tools.unavailable ? test : test.skip;

tc("a throwaway cluster starts on a free port and is gone after the last release", async () => {
  const [a, b] = await Promise.all([
    acquireCluster({ ...tools, binDir: tools.binDir! }),
    acquireCluster({ ...tools, binDir: tools.binDir! }),
  ]);
  assert.is(a.adminUrl, b.adminUrl, "one cluster per process");
  const port = Number(new URL(a.adminUrl).port);
  const [row] = await query(a.adminUrl, (sql) => sql<{ fsync: string }[]>`show fsync`);
  assert.is(row!.fsync, "off");
  await a.release();
  assert.not.ok(await portRefuses("127.0.0.1", port), "still up while b holds it");
  await b.release();
  assert.ok(await portRefuses("127.0.0.1", port), "down after the last release");
});

test.after(async () => {
  await Promise.all(started.map((s) => s.stop()));
});
test.run();
