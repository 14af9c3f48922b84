/**
 * What keeping tasks leased costs: for each size (default 1,000 and 10,000) one orchestrator
 * process submits that many tasks, one worker process leases them all and holds them, and for a
 * window of D seconds (default 60) nothing happens but heartbeats. Printed per size: CPU % of one
 * core of the worker, the orchestrator, nats-server and the Postgres backends of the bench
 * database (from /proc/<pid>/stat deltas), and Postgres commits, row updates and inserts per second
 * (pg_stat_database deltas). The baseline in the same run is the expected beat rate (tasks /
 * heartbeat interval): the cost per beat follows from it.
 *
 *   npx tsx bench/heartbeats.ts [seconds=60] [sizes=1000,10000] [--heartbeat-ms N] [--cpu-prof DIR]
 *
 * --cpu-prof writes a CPU profile of the worker and of the orchestrator over the window only
 * (bench/support/cpu-profile.ts; summarise with bench/support/profile-summary.ts).
 *
 * Servers: a nats-server of its own (its pid is needed) and a fresh database on a Postgres with
 * fsync and synchronous_commit on (bench/support/servers.ts). Children: bench/support/heartbeats/.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir } from "node:fs/promises";
import { cpus } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { DEFAULT_TASK_HEARTBEAT_INTERVAL_MS } from "../src/contract/defaults.js";
import { CLK_TCK, cpuTicks, startChild, startNats, type Child } from "./support/heartbeats/processes.js";
import { benchPostgres } from "./support/servers.js";
import { int, load } from "./support/stats.js";

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { "heartbeat-ms": { type: "string" }, "cpu-prof": { type: "string" } },
});
const PROFILE_DIR = flags["cpu-prof"];
const SECONDS = Number(positionals[0] ?? 60);
const SIZES = (positionals[1] ?? "1000,10000").split(",").map(Number);
/** How long the number of held tasks may stay flat before the window starts with what is held. */
const STALL_MS = 60_000;
const HEARTBEAT_MS = flags["heartbeat-ms"] ? Number(flags["heartbeat-ms"]) : DEFAULT_TASK_HEARTBEAT_INTERVAL_MS;

interface Snapshot {
  at: number;
  ticks: Map<string, number>;
  backends: Map<number, number>;
  commits: number;
  updated: number;
  inserted: number;
}

async function snapshot(sql: postgres.Sql, db: string, pids: Record<string, number>): Promise<Snapshot> {
  const [stat] = await sql<{ commits: string; updated: string; inserted: string }[]>`
    select xact_commit::text as commits, tup_updated::text as updated, tup_inserted::text as inserted
    from pg_stat_database where datname = ${db}`;
  const rows = await sql<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${db} and pid <> pg_backend_pid()`;
  const ticks = new Map<string, number>();
  for (const [name, pid] of Object.entries(pids)) {
    const t = cpuTicks(pid);
    if (t === undefined) throw new Error(`${name} (pid ${pid}) is gone`);
    ticks.set(name, t);
  }
  const backends = new Map<number, number>();
  for (const { pid } of rows) {
    const t = cpuTicks(pid);
    if (t !== undefined) backends.set(pid, t);
  }
  return {
    at: performance.now(),
    ticks,
    backends,
    commits: Number(stat!.commits),
    updated: Number(stat!.updated),
    inserted: Number(stat!.inserted),
  };
}

/** The worker's latest counts: stages started and stages aborted (lease lost). */
function counts(worker: Child): { started: number; aborted: number } {
  const m = worker.messages.findLast((x) => typeof x.started === "number");
  return { started: Number(m?.started ?? 0), aborted: Number(m?.aborted ?? 0) };
}

/**
 * Resolves once the worker holds `size` tasks, or with why not when the number held stopped
 * growing for STALL_MS or `boundMs` passed (the machine cannot lease more while it heartbeats the
 * ones it holds: a result, measured and reported, not an error). Rejects if the worker exits.
 */
function leased(worker: Child, size: number, boundMs: number): Promise<{ held: number; short?: string }> {
  const t0 = performance.now();
  let last = -1;
  let changedAt = t0;
  return new Promise((resolve, reject) => {
    // Reads the counts the worker's messages keep up to date; STALL_MS and the bound end it.
    const timer = setInterval(() => {
      const now = performance.now();
      const c = counts(worker);
      const held = c.started - c.aborted;
      if (held !== last) {
        last = held;
        changedAt = now;
        // Progress on stderr: leasing 10,000 tasks takes minutes on a small machine.
        process.stderr.write(`  (${int(held)} of ${int(size)} tasks held after ${((now - t0) / 1000).toFixed(0)} s)\n`);
      }
      const exited = worker.exited();
      const end = (f: () => void): void => {
        clearInterval(timer);
        f();
      };
      if (exited) end(() => reject(new Error(`${exited}\n${worker.log().slice(-4000)}`)));
      else if (held >= size) end(() => resolve({ held }));
      else if (now - changedAt > STALL_MS) end(() => resolve({ held, short: `the number held stopped growing for ${STALL_MS / 1000} s` }));
      else if (now - t0 > boundMs) end(() => resolve({ held, short: `not reached within ${boundMs / 1000} s` }));
    }, 1_000);
  });
}

async function measure(size: number, natsUrl: string, natsPid: number, pgUrl: string, db: string, monitor: postgres.Sql): Promise<void> {
  const env = {
    HB_NATS_URL: natsUrl,
    HB_PG_URL: pgUrl,
    HB_TOPOLOGY_ID: randomBytes(4).toString("hex"),
    HB_TASKS: String(size),
    ...(flags["heartbeat-ms"] ? { HB_HEARTBEAT_MS: String(HEARTBEAT_MS) } : {}),
    ...(PROFILE_DIR ? { BENCH_CPU_PROF_DIR: PROFILE_DIR } : {}),
  };
  let orch: Child | undefined;
  let worker: Child | undefined;
  try {
    orch = startChild("orchestrator-process.ts", env);
    await orch.waitFor((m) => m.ready === true, 60_000, "orchestrator ready");
    worker = startChild("worker-process.ts", env);
    const w = worker;
    const { held, short } = await leased(w, size, 60_000 + size * 60);
    // Let every held task send its first beat, so the window sees the steady state, not the start burst.
    await sleep(HEARTBEAT_MS + 1_000);
    const pids = { worker: w.pid, orchestrator: orch.pid, "nats-server": natsPid };
    const before = counts(w);
    const profiled = PROFILE_DIR ? [w.pid, orch.pid] : [];
    for (const pid of profiled) process.kill(pid, "SIGUSR2"); // start profiling
    const a = await snapshot(monitor, db, pids);
    await sleep(SECONDS * 1_000); // the measured window
    const b = await snapshot(monitor, db, pids);
    for (const pid of profiled) process.kill(pid, "SIGUSR2"); // stop, and write the profile
    if (PROFILE_DIR) await profilesWritten(PROFILE_DIR, profiled);
    const after = counts(w);
    const s = (b.at - a.at) / 1_000;
    const pctOf = (ticks: number): string => ((ticks / CLK_TCK / s) * 100).toFixed(1);
    const cpu = (name: string): string => pctOf(b.ticks.get(name)! - a.ticks.get(name)!);
    let pgTicks = 0;
    for (const [pid, t] of b.backends) pgTicks += t - (a.backends.get(pid) ?? t);
    const asked = short ? ` (of ${int(size)} asked: ${short})` : "";
    console.log(
      `${int(held)} leased tasks${asked}, heartbeat every ${HEARTBEAT_MS} ms (expect ${int((held * 1000) / HEARTBEAT_MS)} beats/s), ${s.toFixed(0)} s window:`,
    );
    console.log(
      `  CPU % of one core: worker ${cpu("worker")}, orchestrator ${cpu("orchestrator")}, nats-server ${cpu("nats-server")}, postgres backends ${pctOf(pgTicks)} (${b.backends.size} backends)`,
    );
    console.log(
      `  postgres: ${int((b.commits - a.commits) / s)} commits/s, ${int((b.updated - a.updated) / s)} rows updated/s, ${int((b.inserted - a.inserted) / s)} rows inserted/s; held tasks aborted (lease lost) in the window: ${after.aborted - before.aborted}, new starts: ${after.started - before.started}; ${load()}`,
    );
  } finally {
    // The worker is killed, not drained: a drain would first complete every held task.
    await worker?.kill("SIGKILL");
    await orch?.kill("SIGTERM"); // closes its connections and drops its task schema
  }
}

/** Waits (30 s at most) until each profiled child wrote `<name>-<pid>.cpuprofile` into `dir`. */
async function profilesWritten(dir: string, pids: number[]): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    const files = await readdir(dir);
    const missing = pids.filter((pid) => !files.some((f) => f.endsWith(`-${pid}.cpuprofile`)));
    if (missing.length === 0) return;
    if (performance.now() - t0 > 30_000) throw new Error(`no CPU profile from pid(s) ${missing.join(", ")} in ${dir}`);
    await sleep(200);
  }
}

async function main(): Promise<void> {
  if (PROFILE_DIR) await mkdir(PROFILE_DIR, { recursive: true });
  const nats = await startNats();
  const pg = await benchPostgres();
  const monitor = postgres(pg.url, { max: 1, onnotice: () => {} });
  try {
    console.log(`heartbeat bench: sizes ${SIZES.map(int).join(", ")}; ${SECONDS} s window each; ${cpus().length} cores; ${load()}`);
    console.log(`  ${nats.version}, JetStream file storage; ${pg.settings}`);
    const ext = await monitor`select 1 from pg_extension where extname = 'pg_stat_statements'`;
    if (ext.length === 0) console.log("  (pg_stat_statements not installed: Postgres writes from pg_stat_database only)");
    for (const size of SIZES) await measure(size, nats.url, nats.pid, pg.url, pg.database, monitor);
  } finally {
    await monitor.end({ timeout: 5 });
    await pg.stop();
    await nats.stop();
  }
}

await main();
