/**
 * A throwaway Postgres cluster (initdb + pg_ctl) on a free port, for machines that have the
 * Postgres binaries but no running server. One cluster per test process, shared by its
 * usePostgres() calls (each still gets its own database) and stopped + deleted when the last
 * of them stops, or at process exit. Starting one costs ~1 s.
 */
import { execFile } from "node:child_process";
import { accessSync, chownSync, constants, readdirSync, readFileSync, rmSync } from "node:fs";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { killPid, makeOwnedTempDir, onProcessExit, sweepStaleTempDirs } from "./lifecycle.js";
import { freePort } from "./net.js";

const run = promisify(execFile);
const TEMP_PREFIX = "jetflow-pg-";

/** Why the throwaway strategy cannot work here, or the binaries and user to run it with. */
export interface ClusterTools {
  binDir?: string;
  /** Set when running as root: initdb refuses root, so the cluster runs as the `postgres` user. */
  runAs?: { uid: number; gid: number };
  unavailable?: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false; // absent or not executable: the caller reports every place it looked
  }
}

/** Looks for initdb + pg_ctl in $JETFLOW_PG_BIN_DIR, /usr/lib/postgresql/<newest>/bin, then PATH. */
export function findClusterTools(): ClusterTools {
  const dirs: string[] = [];
  if (process.env.JETFLOW_PG_BIN_DIR) dirs.push(process.env.JETFLOW_PG_BIN_DIR);
  try {
    const versions = readdirSync("/usr/lib/postgresql").sort((a, b) => Number(b) - Number(a));
    dirs.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  dirs.push(...(process.env.PATH ?? "").split(delimiter).filter(Boolean));
  const binDir = dirs.find((d) => isExecutable(join(d, "initdb")) && isExecutable(join(d, "pg_ctl")));
  if (!binDir) return { unavailable: `no initdb/pg_ctl in ${dirs.join(", ")}` };
  if (process.getuid?.() !== 0) return { binDir };
  const entry = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .map((l) => l.split(":"))
    .find((f) => f[0] === "postgres");
  if (!entry) return { unavailable: "running as root and there is no `postgres` user to run initdb as" };
  return { binDir, runAs: { uid: Number(entry[2]), gid: Number(entry[3]) } };
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    return pid > 0 ? pid : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined; // server not running
    throw err;
  }
}

export interface Cluster {
  adminUrl: string;
  stop(): Promise<void>;
  /** An immediate shutdown (like a crash: no checkpoint) and a start on the same port and data. */
  restart(): Promise<void>;
}

async function startCluster(tools: Required<Pick<ClusterTools, "binDir">> & ClusterTools, durable = false): Promise<Cluster> {
  sweepStaleTempDirs(TEMP_PREFIX, (dir) => {
    const pid = postmasterPid(join(dir, "data"));
    if (pid) killPid(pid, "SIGKILL");
  });
  const dir = makeOwnedTempDir(TEMP_PREFIX);
  const data = join(dir, "data");
  const unhook = onProcessExit(() => {
    const pid = postmasterPid(data);
    if (pid) killPid(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  const as = tools.runAs ? { uid: tools.runAs.uid, gid: tools.runAs.gid } : {};
  if (tools.runAs) chownSync(dir, tools.runAs.uid, tools.runAs.gid);
  const exec = (tool: string, args: string[]) => run(join(tools.binDir, tool), args, { ...as, cwd: dir, timeout: 60_000 });
  const destroy = async (): Promise<void> => {
    try {
      if (postmasterPid(data)) await exec("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
    } finally {
      unhook();
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await exec("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"]);
    let port = 0;
    let settings = "";
    // Retry with a new port if another process bound ours between freePort() and the bind.
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      settings = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off${durable ? "" : " -c synchronous_commit=off"} -c full_page_writes=off -c max_connections=300`;
      try {
        // -w makes pg_ctl wait until the server accepts connections (its own bounded probe, -t).
        await exec("pg_ctl", ["-D", data, "-l", join(dir, "postgres.log"), "-o", settings, "-w", "-t", "30", "start"]);
        break;
      } catch (err) {
        const log = readFileSync(join(dir, "postgres.log"), "utf8");
        if (attempt < 2 && /could not bind|already in use/i.test(log)) continue;
        throw new Error(`pg_ctl start failed: ${(err as Error).message}\n--- postgres log ---\n${log.slice(-4000)}`);
      }
    }
    const restart = async (): Promise<void> => {
      await exec("pg_ctl", ["-D", data, "-l", join(dir, "postgres.log"), "-o", settings, "-m", "immediate", "-w", "-t", "60", "restart"]);
    };
    return { adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`, stop: destroy, restart };
  } catch (err) {
    await destroy();
    throw err;
  }
}

let shared: Promise<Cluster> | undefined;
let refs = 0;

/**
 * Takes a reference on this process's throwaway cluster, starting it on first use.
 * Call `release()` exactly once; the last release stops the server and deletes its files.
 */
export async function acquireCluster(tools: ClusterTools & { binDir: string }): Promise<{ adminUrl: string; release(): Promise<void> }> {
  refs++;
  const current = (shared ??= startCluster(tools));
  let cluster: Cluster;
  try {
    cluster = await current;
  } catch (err) {
    refs--;
    if (shared === current) shared = undefined; // let a later call try again
    throw err;
  }
  let released = false;
  return {
    adminUrl: cluster.adminUrl,
    async release() {
      if (released) return;
      released = true;
      if (--refs > 0) return;
      if (shared === current) shared = undefined;
      await cluster.stop();
    },
  };
}

/**
 * A cluster of the caller's own, not shared with usePostgres(): for tests that restart Postgres
 * under running processes (chaos), which must not disturb other test files' databases.
 */
export async function startDedicatedCluster(tools: ClusterTools & { binDir: string }): Promise<Cluster> {
  // synchronous_commit stays on: an immediate shutdown must not lose a commit the client saw
  // (fsync=off only risks an OS crash, which a restart is not).
  return startCluster(tools, true);
}
