/**
 * `usePostgres()`: a fresh, empty database for one caller. Order: JETFLOW_TEST_DATABASE_URL →
 * a `postgres:16` container when Docker answers → the machine's server at 127.0.0.1:5432
 * (user postgres) → a throwaway cluster of our own → ServiceUnavailableError.
 * Every source hands out its own `CREATE DATABASE jetflow_t_<random>`, dropped on stop().
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import postgres from "postgres";
import { containerRuntime, postgresContainer } from "./containers.js";
import { isAlive } from "./lifecycle.js";
import { acquireCluster, findClusterTools } from "./pg-cluster.js";
import { ServiceUnavailableError, type PostgresService, type ServiceSource } from "./types.js";

const MACHINE_SERVER = "postgres://postgres@127.0.0.1:5432/postgres";
const DB_PREFIX = "jetflow_t_";
const OWNER_TAG = "jetflow-harness";
const REMEDY =
  "set JETFLOW_TEST_DATABASE_URL=postgres://user:pass@host:5432/postgres (a role that may CREATE DATABASE), " +
  "or install/start PostgreSQL (apt-get install -y postgresql; pg_ctlcluster <version> main start), or run a Docker engine";

/** A short-lived admin connection; notices ("skipping", ...) are not test output. */
function admin(url: string) {
  return postgres(url, { max: 1, connect_timeout: 5, idle_timeout: 1, onnotice: () => {} });
}

/** Resolves when `url` answers `select 1`, rejects with the driver's reason otherwise. */
async function probe(url: string): Promise<void> {
  const sql = admin(url);
  try {
    await sql`select 1`;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** `url` with its database replaced. */
function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * Drops databases left by harness processes on this host that died without stopping
 * (SIGKILL, runner timeout). Each database's comment names its owner's host and pid.
 */
async function sweepStaleDatabases(sql: postgres.Sql): Promise<void> {
  const rows = await sql<{ datname: string; owner: string | null }[]>`
    select datname, shobj_description(oid, 'pg_database') as owner
    from pg_database where datname like ${`${DB_PREFIX}%`}`;
  for (const { datname, owner } of rows) {
    const m = owner?.match(/^jetflow-harness host=(\S+) pid=(\d+)$/);
    if (!m || m[1] !== hostname() || isAlive(Number(m[2]))) continue;
    try {
      await sql.unsafe(`drop database if exists "${datname}" with (force)`);
    } catch (err) {
      // Another test process may be sweeping the same leftover right now; a failed sweep
      // must not fail the test that happened to trigger it.
      process.stderr.write(`[jetflow harness] could not drop stale database ${datname}: ${(err as Error).message}\n`);
    }
  }
}

/** Creates a fresh database on the server behind `adminUrl` and wraps it as a service. */
async function freshDatabase(adminUrl: string, source: ServiceSource, release: () => Promise<void>): Promise<PostgresService> {
  const database = `${DB_PREFIX}${randomBytes(6).toString("hex")}`;
  const sql = admin(adminUrl);
  try {
    await sweepStaleDatabases(sql);
    await sql.unsafe(`create database "${database}"`);
    await sql.unsafe(`comment on database "${database}" is '${OWNER_TAG} host=${hostname()} pid=${process.pid}'`);
  } catch (err) {
    await release();
    throw err;
  } finally {
    await sql.end({ timeout: 1 });
  }
  let stopped = false;
  return {
    url: withDatabase(adminUrl, database),
    database,
    source,
    adminUrl,
    async stop() {
      if (stopped) return;
      stopped = true;
      const drop = admin(adminUrl);
      try {
        // FORCE terminates connections a test forgot to close (PG 13+).
        await drop.unsafe(`drop database if exists "${database}" with (force)`);
      } finally {
        await drop.end({ timeout: 1 });
        await release();
      }
    },
  };
}

/**
 * A fresh, empty database unique to this call. JETFLOW_TEST_DATABASE_URL must point at a
 * database of a server where that role may CREATE DATABASE (e.g. `.../postgres`); it is
 * also the `adminUrl`.
 *
 * @throws ServiceUnavailableError when no strategy works (services() turns that into a skip outside CI).
 */
export async function usePostgres(): Promise<PostgresService> {
  const tried: string[] = [];
  const envUrl = process.env.JETFLOW_TEST_DATABASE_URL;
  if (envUrl) {
    // An explicit URL that does not answer is a configuration error, never a reason to fall back.
    return freshDatabase(envUrl, "env", async () => {});
  }
  tried.push("JETFLOW_TEST_DATABASE_URL: not set");

  const runtime = await containerRuntime();
  if ("tc" in runtime) {
    try {
      const c = await postgresContainer(runtime.tc);
      return await freshDatabase(c.adminUrl, "container", () => c.stop());
    } catch (err) {
      tried.push(`testcontainers postgres:16: ${(err as Error).message}`);
    }
  } else {
    tried.push(`testcontainers: ${runtime.reason}`);
  }

  try {
    await probe(MACHINE_SERVER);
    return await freshDatabase(MACHINE_SERVER, "local", async () => {});
  } catch (err) {
    tried.push(`machine server ${MACHINE_SERVER}: ${(err as Error).message}`);
  }

  const tools = findClusterTools();
  if (!tools.binDir || tools.unavailable) {
    tried.push(`throwaway cluster: ${tools.unavailable ?? "no binaries"}`);
    throw new ServiceUnavailableError("postgres", tried, REMEDY);
  }
  // Binaries exist, so a failure to start them is a real error (with the server log), not a skip.
  const cluster = await acquireCluster({ ...tools, binDir: tools.binDir });
  return freshDatabase(cluster.adminUrl, "local", () => cluster.release());
}
