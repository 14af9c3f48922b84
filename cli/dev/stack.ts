/**
 * `startDevStack`: a complete local jetflow deployment in one call — Postgres, NATS (operator
 * mode, JetStream), S3, migrations and streams, an orchestrator in this process (serving the web
 * console on 127.0.0.1), and worker processes with scoped credentials. Used by `jetflow dev` and by `npm run demo`.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { initNatsAuth, issueWorkerCreds } from "../../adapters/jetstream/auth/nats-auth.js";
import { createTopology } from "../../src/contract/topology.js";
import { traceLogFields } from "../../src/contract/log-correlation.js";
import { OrchestratorConfig } from "../../orchestrator/config.js";
import { startOrchestrator, type Orchestrator } from "../../orchestrator/start.js";
import { choosePort, signalPid } from "./net.js";
import { startDevPostgres, type DevPostgres } from "./postgres.js";
import { startDevNats, type DevNats } from "./nats.js";
import { startDevS3, type DevS3 } from "./s3.js";
import { startDevWorker, type DevWorker } from "./workers.js";
import { EXAMPLE_CODE_VERSION, EXAMPLE_QUEUE } from "./example/activities.js";

/** Same extension as this file: `.ts` when the CLI runs from source, `.js` from dist/. */
const EXT = extname(fileURLToPath(import.meta.url));
/** The bundled example's workflow and activity modules. */
export const EXAMPLE_WORKFLOWS = fileURLToPath(new URL(`./example/workflows${EXT}`, import.meta.url));
export const EXAMPLE_ACTIVITIES = fileURLToPath(new URL(`./example/activities${EXT}`, import.meta.url));

/** Default ports: the usual ones plus 10000, so a dev stack never takes a real server's port. */
export const DEFAULT_PORTS = { nats: 14222, postgres: 15432, s3: 19000, health: 19464, console: 14280 } as const;

export interface DevStackOptions {
  /** The state directory (absolute), e.g. `<cwd>/.jetflow`. */
  dir: string;
  databaseUrl?: string;
  natsUrl?: string;
  /** Credentials for a --nats-url server. */
  natsCreds?: string;
  s3Endpoint?: string;
  s3Bucket?: string;
  /** Workflow module (TS or JS); default the bundled example. */
  workflows?: string;
  /** Module the workers load (`stages`); default the example's activities when `workflows` is the example. */
  workerModule?: string;
  queue?: string;
  codeVersion?: string;
  workers: { id: string; labels?: string }[];
  ports?: Partial<Record<keyof typeof DEFAULT_PORTS, number>>;
  /** Remote task lease; short in dev so a lost worker's task moves on quickly. */
  leaseMs?: number;
  /** Progress lines while starting ("initialising Postgres …"). */
  log: (line: string) => void;
  /** Every orchestrator log line (pino JSON), besides `<dir>/logs/orchestrator.log`. */
  onOrchestratorLog?: (line: string) => void;
  /** Extra environment of the worker processes. */
  workerEnv?: NodeJS.ProcessEnv;
}

/** A running stack. `stop()` ends every process and frees every port it took. */
export interface DevStack {
  urls: { nats: string; postgres: string; s3: string; health: string; console: string };
  /** Where artifacts are and how to reach them (the embedded server's fixed dev keys, or AWS_* env). */
  s3: { endpoint: string; bucket: string; region: string; accessKeyId?: string; secretAccessKey?: string };
  sources: { nats: string; postgres: string; s3: string };
  /** The `creds init` directory (operator-mode NATS only). */
  credsDir: string | undefined;
  /** Full-permission user of the JETFLOW account: what the CLI connects with. */
  cliCreds: string | undefined;
  workflows: string;
  workflowIds: string[];
  queue: string;
  codeVersion: string;
  workers: DevWorker[];
  logDir: string;
  orchestrator: Orchestrator;
  stop(): Promise<void>;
}

/** The repository / package root: where bin/jetflow.js is, whether this runs from source or dist/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "jetflow") return dir;
    dir = dirname(dir);
  }
  throw new Error("cannot find jetflow's package root (bin/jetflow.js) from cli/dev/stack");
}

/** Starts everything; on a failure, stops what already started and rethrows. */
export async function startDevStack(o: DevStackOptions): Promise<DevStack> {
  const ports = { ...DEFAULT_PORTS, ...o.ports };
  const logDir = join(o.dir, "logs");
  mkdirSync(logDir, { recursive: true });
  const stoppers: (() => Promise<void>)[] = [];
  const workers: DevWorker[] = [];
  let pg: DevPostgres | undefined;
  let nats: DevNats | undefined;
  // A crash or process.exit() must not strand servers: kill what is left, synchronously.
  const onExit = () => {
    for (const w of workers) w.killNow();
    const natsPid = nats?.pid();
    if (natsPid) signalPid(natsPid, "SIGKILL");
    const pgPid = pg?.pid();
    if (pgPid) signalPid(pgPid, "SIGINT"); // pg_ctl detached it: ask for a fast shutdown
  };
  process.on("exit", onExit);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const errors: unknown[] = [];
      for (const s of stoppers.reverse()) await s().catch((e: unknown) => errors.push(e));
      process.off("exit", onExit);
      if (errors.length) throw new AggregateError(errors, `jetflow dev: ${errors.length} service(s) did not stop cleanly`);
    })());

  try {
    const queue = o.queue ?? EXAMPLE_QUEUE;
    const codeVersion = o.codeVersion ?? EXAMPLE_CODE_VERSION;
    const workflows = o.workflows ?? EXAMPLE_WORKFLOWS;
    const workerModule = o.workerModule ?? (workflows === EXAMPLE_WORKFLOWS ? EXAMPLE_ACTIVITIES : undefined);

    // Operator-mode credentials, made once and kept: issued worker credentials stay valid across restarts.
    let credsDir: string | undefined;
    let authConfig = "";
    if (!o.natsUrl) {
      credsDir = join(o.dir, "nats-auth");
      if (!existsSync(join(credsDir, "account.nk"))) {
        o.log(`creating NATS operator, accounts and orchestrator credentials in ${credsDir} (jetflow creds init)`);
        await initNatsAuth(credsDir);
      }
      authConfig = readFileSync(join(credsDir, "resolver.conf"), "utf8");
    }

    const [pgR, natsR, s3R] = await Promise.allSettled([
      o.databaseUrl ? Promise.resolve(undefined) : startDevPostgres(o.dir, ports.postgres, o.log),
      o.natsUrl ? Promise.resolve(undefined) : startDevNats(o.dir, ports.nats, authConfig),
      o.s3Endpoint ? Promise.resolve(undefined) : startDevS3(o.dir, ports.s3, o.s3Bucket ?? "jetflow"),
    ]);
    if (pgR.status === "fulfilled" && pgR.value) stoppers.push((pg = pgR.value).stop);
    if (natsR.status === "fulfilled" && natsR.value) stoppers.push((nats = natsR.value).stop);
    let s3: DevS3 | undefined;
    if (s3R.status === "fulfilled" && s3R.value) stoppers.push((s3 = s3R.value).stop);
    for (const r of [natsR, pgR, s3R]) if (r.status === "rejected") throw r.reason;

    const natsUrl = o.natsUrl ?? nats!.url;
    const databaseUrl = o.databaseUrl ?? pg!.url;
    const cliCreds = credsDir ? join(credsDir, "orchestrator.creds") : o.natsCreds;
    const s3Conf = s3
      ? { bucket: s3.bucket, endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }
      : {
          bucket: o.s3Bucket ?? "jetflow",
          endpoint: o.s3Endpoint!,
          region: process.env.AWS_REGION ?? "us-east-1",
          ...(process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY
            ? { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY }
            : {}),
        };
    const health = await choosePort(ports.health);
    const consolePort = await choosePort(ports.console);
    const leaseMs = o.leaseMs ?? 5_000;
    const config = OrchestratorConfig.parse({
      workflows,
      database: { url: databaseUrl, migrate: true },
      nats: { servers: natsUrl, ...(cliCreds ? { creds: cliCreds } : {}) },
      // Short intervals: a dev stack should feel instant; production keeps the defaults.
      host: { orchestrationIntervalMs: 200, jobPollIntervalMs: 200 },
      s3: { ...s3Conf, forcePathStyle: true },
      remote: {
        leaseMs,
        queues: [{ queue, codeVersion }],
        reapIntervalMs: 500,
        reportPollMs: 200,
        unservedAfterMs: 10_000,
        unservedCheckMs: 1_000,
      },
      logLevel: "info",
      healthPort: health.port,
      consolePort: consolePort.port,
    });
    const orchestratorLog = createWriteStream(join(logDir, "orchestrator.log"), { flags: "a" });
    let workflowIds: string[] = [];
    const logger = pino(
      { level: "info", base: { service: "jetflow-orchestrator" }, mixin: traceLogFields },
      {
        write(line: string) {
          orchestratorLog.write(line);
          if (line.includes('"workflows loaded"')) workflowIds = (JSON.parse(line) as { workflows?: string[] }).workflows ?? [];
          o.onOrchestratorLog?.(line);
        },
      },
    );
    o.log("applying migrations, creating streams, starting the orchestrator");
    const orchestrator = await startOrchestrator(config, { logger });
    stoppers.push(async () => {
      await orchestrator.stop();
      await new Promise<void>((r) => orchestratorLog.end(r));
    });
    // Stopped first (stoppers run in reverse): workers drain while the orchestrator still answers.
    stoppers.push(async () => void (await Promise.all(workers.map((w) => w.stop()))));

    if (workerModule && o.workers.length > 0) {
      const bin = join(packageRoot(), "bin", "jetflow.js");
      const topology = createTopology();
      // One at a time: issuing rewrites the directory's list of issued credentials.
      const credsFiles = new Map<string, string | undefined>();
      for (const w of o.workers) {
        if (!credsDir) {
          credsFiles.set(w.id, o.natsCreds);
          continue;
        }
        // Same code as `jetflow creds issue`: the worker may pull, ack and report for this queue only.
        const issued = await issueWorkerCreds(credsDir, topology, {
          queue,
          codeVersion,
          workerId: w.id,
          name: `worker-${queue}-${w.id}`.replace(/[^A-Za-z0-9_-]/g, "_"),
          expiresAt: new Date(Date.now() + 7 * 86_400_000),
        });
        mkdirSync(join(credsDir, "workers"), { recursive: true });
        const file = join(credsDir, "workers", `${w.id}.creds`);
        await writeFile(file, issued.creds, { mode: 0o600 });
        await chmod(file, 0o600);
        credsFiles.set(w.id, file);
      }
      await Promise.all(
        o.workers.map(async (w) => {
          const credsFile = credsFiles.get(w.id);
          const worker = await startDevWorker({
            id: w.id,
            ...(w.labels ? { labels: w.labels } : {}),
            bin,
            module: workerModule,
            queue,
            codeVersion,
            servers: natsUrl,
            ...(credsFile ? { credsFile } : {}),
            heartbeatMs: Math.max(100, Math.floor(leaseMs / 5)),
            logDir,
            // Workers run the same code as this stack: from source when it runs from source, so a
            // dist/ built meanwhile (npm pack) is never picked up half-way.
            env: { ...process.env, ...(import.meta.url.endsWith(".ts") ? { JETFLOW_CLI_FROM_SOURCE: "1" } : {}), ...o.workerEnv },
            readyTimeoutMs: 90_000,
          });
          workers.push(worker);
        }),
      );
    } else if (o.workers.length > 0) {
      o.log("no --worker-module: no worker started (remote stages wait until you start one with `jetflow worker`)");
    }
    return {
      urls: {
        nats: natsUrl,
        postgres: databaseUrl,
        s3: s3Conf.endpoint,
        health: `http://127.0.0.1:${health.port}/healthz`,
        console: orchestrator.consoleUrl ?? `http://127.0.0.1:${consolePort.port}`,
      },
      s3: s3Conf,
      sources: {
        nats: nats?.source ?? "--nats-url",
        postgres: pg?.source ?? "--database-url",
        s3: s3 ? "embedded s3rver (SigV4)" : "--s3-endpoint",
      },
      credsDir,
      cliCreds,
      workflows,
      workflowIds,
      queue,
      codeVersion,
      workers,
      logDir,
      orchestrator,
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined); // the start error is the one worth reporting
    throw err;
  }
}
