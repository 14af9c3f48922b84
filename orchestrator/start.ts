import type { AICallSummaryQuery } from "../src/ports/persistence.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { hostname } from "node:os";
import postgres from "postgres";
import { destination, pino } from "pino";
import { traceLogFields } from "../src/contract/log-correlation.js";
import { createPostgresPersistence, migrate } from "../adapters/postgres/index.js";
import { startApiService } from "../adapters/jetstream/api/service.js";
import type { ApiService } from "../adapters/jetstream/api/service.js";
import { createJetStreamEventSink } from "../adapters/jetstream/event-sink.js";
import { createJetStreamJobTransport } from "../adapters/jetstream/job-transport.js";
import { createPostgresJobTransport } from "../adapters/postgres/job-transport.js";
import { ensureTopology } from "../adapters/jetstream/topology.js";
import { ensureWorkerRegistry, observeFleetMetrics } from "../adapters/jetstream/fleet/index.js";
import { createTopology } from "../src/contract/topology.js";
import { createKernel, createNodeHost, systemClock } from "../src/index.js";
import type { BlobStore, Kernel, Logger, RunStarter, Scheduler } from "../src/index.js";
import { createS3BlobStore } from "../adapters/s3/index.js";
import { JetflowError } from "../src/contract/errors.js";
import type { OrchestratorConfig } from "./config.js";
import { loadWorkflowRegistry } from "./load-workflows.js";
import { startUnservedWatch } from "./unserved.js";
import { taskWaitsOf } from "./task-waits.js";
import { startHealthServer, type HealthReport } from "../worker-sdk/health-server.js";
import { connectNats } from "../worker-sdk/connect.js";
import { startHealthWatch } from "./health-watch.js";
import { startConsole } from "../console/server.js";
import { createOrchestratorRemote } from "./remote.js";
import { DEFAULT_INLINE_OUTPUT_LIMIT_BYTES } from "../src/contract/defaults.js";

/** Without an object store every output must stay in Postgres, so the inline limit is raised to this. */
const NO_OBJECT_STORE_INLINE_LIMIT_BYTES = 8 * 1024 * 1024;

/** A running orchestrator: its kernel and NATS connection; `stop()` shuts it down gracefully. */
export interface Orchestrator {
  readonly workerId: string;
  readonly kernel: Kernel;
  readonly nc: NatsConnection;
  /** The web console's URL when `consolePort` is set (bound to 127.0.0.1). */
  readonly consoleUrl?: string;
  /** Stops in dependency order: API, host (waits for in-flight jobs), transport, NATS, Postgres. */
  stop(): Promise<void>;
  /** For supervisors: healthy while NATS is connected, Postgres answers and ticks succeed. */
  health(): Promise<HealthReport>;
}

/** The scheduler port is not needed here: the node host's orchestration tick polls on its own. */
const pollingScheduler: Scheduler = { schedule: async () => {} };

/**
 * Starts one orchestrator process's worth of components: Postgres persistence (optionally
 * migrating), the JetStream topology, job transport and event sink, the kernel, the node host
 * and the submission API. Several orchestrators may run against one database and one NATS.
 */
export async function startOrchestrator(
  config: OrchestratorConfig,
  opts: { logger?: Logger; blobStore?: BlobStore } = {},
): Promise<Orchestrator> {
  const logger: Logger =
    opts.logger ?? pino({ level: config.logLevel, base: { service: "jetflow-orchestrator" }, mixin: traceLogFields }, destination(2));
  const workerId = config.host.workerId ?? `orchestrator-${hostname()}-${process.pid}`;
  const sql = postgres(config.database.url, {
    max: config.database.maxConnections,
    onnotice: () => {},
    // Bounded, so an unreachable server fails the start instead of hanging it.
    connect_timeout: POSTGRES_CONNECT_TIMEOUT_S,
  });
  const closers: (() => Promise<void>)[] = [async () => void (await sql.end({ timeout: 5 }))];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (e) {
        logger.warn({ err: (e as Error).message }, "error while shutting down");
      }
    }
  };

  try {
    // Fail the start, naming the server, rather than log "started" and fail every tick after.
    await checkPostgres(sql, config.database.url, config.database.schema, config.database.migrate);
    if (config.database.migrate) await migrate(sql, { schema: config.database.schema });
    const nc = await connectNats({
      servers: config.nats.servers,
      name: workerId,
      creds: config.nats.creds,
      user: config.nats.user,
      password: config.nats.password,
      // Fails at once when no server answers (nats.js does not retry the first connect).
      timeout: NATS_CONNECT_TIMEOUT_MS,
    });
    closers.push(async () => nc.drain());
    // nats.js reconnects on its own; meanwhile the orchestrator is degraded, and says so.
    let natsDisconnected = false;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") natsDisconnected = true;
        else if (s.type === "reconnect") natsDisconnected = false;
      }
    })();
    const blobStore = opts.blobStore ?? blobStoreFor(config);
    // Before the workflows: a workflow module's createWorkflows({ remote }) binds stages to these brokers.
    const remote = createOrchestratorRemote(config, { sql, blobStore, logger });
    closers.push(() => remote.stop());
    const { registry, ids } = await loadWorkflowRegistry(config.workflows, { remote: remote.stages });
    logger.info({ workflows: ids, workerId }, "workflows loaded");
    const topology = createTopology({ prefix: config.nats.prefix, streamPrefix: config.nats.streamPrefix });
    await ensureTopology(await jetstreamManager(nc), {
      topology,
      ...(config.nats.replicas !== undefined ? { replicas: config.nats.replicas } : {}),
      jobAckWaitMs: config.jobs.leaseMs,
      jobMaxDeliver: config.jobs.maxDeliveries,
    });
    // Workers register themselves in this bucket; they may not create it (no $JS.API grant).
    await ensureWorkerRegistry(nc, {
      prefix: topology.prefix,
      ...(config.nats.replicas !== undefined ? { replicas: config.nats.replicas } : {}),
    });
    // jetflow.fleet.* gauges: read from the registry at each metric export (nothing without an SDK).
    const stopFleetMetrics = observeFleetMetrics(nc, {
      prefix: topology.prefix,
      onError: (err) => logger.warn({ err: (err as Error).message ?? String(err) }, "fleet metrics: reading the worker registry failed"),
    });
    closers.push(async () => stopFleetMetrics());
    const jobTransport =
      config.jobs.transport === "postgres"
        ? createPostgresJobTransport(sql, {
            schema: config.database.schema,
            leaseMs: config.jobs.leaseMs,
            maxDeliveries: config.jobs.maxDeliveries,
            logger,
          })
        : await createJetStreamJobTransport(nc, {
            topology,
            leaseMs: config.jobs.leaseMs,
            maxDeliveries: config.jobs.maxDeliveries,
            ensure: false,
            logger,
          });
    closers.push(() => jobTransport.close());
    await remote.start(nc, topology);

    const persistence = createPostgresPersistence(sql, { schema: config.database.schema });
    const unserved =
      remote.store && config.remote
        ? startUnservedWatch({
            nc,
            store: remote.store,
            persistence,
            prefix: topology.prefix,
            logger,
            afterMs: config.remote.unservedAfterMs,
            intervalMs: config.remote.unservedCheckMs,
          })
        : null;
    if (unserved) closers.push(() => unserved.stop());
    // The host is made after the kernel; until then a new run waits for the first tick.
    let claimSoon = (): void => {};
    let starter = (): RunStarter | null => null;
    const kernel = createKernel({
      persistence,
      blobStore,
      jobTransport,
      eventSink: createJetStreamEventSink(nc, { topology }),
      scheduler: pollingScheduler,
      clock: systemClock,
      registry,
      logger,
      // A cancelled run interrupts its in-flight remote activities, not just its local jobs.
      onRunCancelled: (workflowRunId) => remote.cancelRun(workflowRunId),
      // A run submitted through the API is claimed at once, not at the next tick (1 s by default).
      onRunCreated: () => claimSoon(),
      // With no backlog, it is even started in its creating write, claimed by this host.
      startOnCreate: () => starter(),
      options: {
        inlineOutputLimitBytes:
          config.inlineOutputLimitBytes ??
          (config.s3 || opts.blobStore ? DEFAULT_INLINE_OUTPUT_LIMIT_BYTES : NO_OBJECT_STORE_INLINE_LIMIT_BYTES),
      },
    });
    remote.wakeStagesOf(kernel);
    const host = createNodeHost({
      kernel,
      jobTransport,
      workerId,
      logger,
      handleSignals: false,
      orchestrationIntervalMs: config.host.orchestrationIntervalMs,
      jobPollIntervalMs: config.host.jobPollIntervalMs,
      staleLeaseThresholdMs: config.host.staleLeaseThresholdMs,
      ...(config.host.stuckRunThresholdMs ? { stuckRunThresholdMs: config.host.stuckRunThresholdMs } : {}),
      maxConcurrentJobs: config.host.maxConcurrentJobs,
      // Several heartbeats per lease, so one slow heartbeat never lets a live job be redelivered.
      heartbeatIntervalMs: Math.max(100, Math.floor(config.jobs.leaseMs / 3)),
    });
    await host.start();
    claimSoon = () => host.claimSoon();
    starter = () => host.starter();
    closers.push(() => host.stop());

    let api: ApiService | undefined;
    if (config.api.enabled) {
      const waits = taskWaitsOf(nc, topology, { store: remote.store, jetstreamJobs: config.jobs.transport !== "postgres" }, logger);
      api = await startApiService(nc, {
        kernel,
        jobTransport,
        prefix: config.nats.prefix,
        logger,
        ...(unserved ? { unservedTasks: unserved.list } : {}),
        ...(remote.store ? { runTasks: (runId: string) => remote.store!.listTasks({ workflowRunId: runId, limit: 200 }) } : {}),
        ...(waits ? { taskWaits: waits } : {}),
        runArtifacts: (runId: string) => persistence.listArtifacts(runId),
        deadLetters: (limit: number) => persistence.listDeadLetters(limit),
        aiCosts: (q: AICallSummaryQuery) => persistence.summarizeAICalls(q),
        ...(remote.presigner
          ? { presignArtifact: (key: string, expiresInSec: number) => remote.presigner!.presignGet(key, { expiresInSec }) }
          : {}),
      });
      closers.push(() => api!.stop());
    }
    const health = async (): Promise<HealthReport> => {
      const db = await Promise.race([
        sql`select 1`.then(
          () => "ok",
          (e: unknown) => (e as Error).message,
        ),
        new Promise<string>((r) => setTimeout(r, 2_000, "no answer within 2 s").unref()),
      ]);
      const h = host.getStats();
      // A few failed ticks in a row is a blip the host rides out with backoff; more is an outage.
      const nats = nc.isClosed() ? "closed" : natsDisconnected ? "disconnected" : "connected";
      const healthy = nats === "connected" && db === "ok" && h.isRunning && h.consecutiveTickFailures < 5;
      return {
        healthy,
        status: healthy ? "running" : "degraded",
        workerId,
        nats,
        database: db,
        inFlight: h.jobsInFlight,
        jobsProcessed: h.jobsProcessed,
        consecutiveTickFailures: h.consecutiveTickFailures,
        lastTickError: h.lastTickError ?? null,
      };
    };
    if (config.healthPort !== undefined) {
      const server = await startHealthServer({ port: config.healthPort, report: health });
      // Closed first: a supervisor should see the process go away, not a half-stopped one answering.
      closers.push(() => server.close());
    }
    let consoleUrl: string | undefined;
    if (config.consolePort !== undefined) {
      // Loopback only: a console reachable from elsewhere needs a token, which `jetflow console --host` handles.
      const server = await startConsole(
        nc,
        { host: "127.0.0.1", port: config.consolePort, prefix: config.nats.prefix, actor: "console" },
        { logger },
      );
      consoleUrl = server.url;
      closers.push(() => server.stop());
    }
    const watch = startHealthWatch({ report: health, logger, intervalMs: HEALTH_WATCH_INTERVAL_MS });
    closers.push(async () => watch.stop());
    logger.info(
      { workerId, api: api?.id ?? null, healthPort: config.healthPort ?? null, console: consoleUrl ?? null },
      "orchestrator started",
    );

    let stopping: Promise<void> | undefined;
    return {
      workerId,
      kernel,
      nc,
      ...(consoleUrl ? { consoleUrl } : {}),
      health,
      stop: () => (stopping ??= closeAll().then(() => logger.info({ workerId }, "orchestrator stopped"))),
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** Bounds on reaching Postgres and NATS at start. */
const POSTGRES_CONNECT_TIMEOUT_S = 10;
const NATS_CONNECT_TIMEOUT_MS = 10_000;
/** How often health is checked to log a change (degraded / healthy again). */
const HEALTH_WATCH_INTERVAL_MS = 5_000;

/** "host:port/database" of a Postgres URL, never its password. */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || "localhost"}:${u.port || 5432}${u.pathname}`;
  } catch {
    return "(unparsable database URL)";
  }
}

/**
 * One round trip to Postgres; without `migrate`, also that jetflow's schema exists. Throws
 * UNAVAILABLE naming the server and what to do.
 */
async function checkPostgres(sql: postgres.Sql, url: string, schema: string, migrating: boolean): Promise<void> {
  let found: boolean;
  try {
    const rows = await sql<
      { found: boolean }[]
    >`select exists (select 1 from information_schema.tables where table_schema = ${schema}) as found`;
    found = rows[0]!.found;
  } catch (err) {
    throw new JetflowError(
      "UNAVAILABLE",
      `cannot use Postgres at ${describePostgresUrl(url)}: ${(err as Error).message} (create the database with \`createdb\`, or fix database.url / JETFLOW_DATABASE_URL)`,
    );
  }
  if (!found && !migrating) {
    throw new JetflowError(
      "UNAVAILABLE",
      `Postgres at ${describePostgresUrl(url)} has no jetflow schema "${schema}": run \`jetflow migrate\` first, or start with --migrate`,
    );
  }
}

/**
 * The configured object store, or one that refuses every operation with a clear message: an
 * in-memory store would silently lose blobs that another orchestrator later needs to read.
 */
function blobStoreFor(config: OrchestratorConfig): BlobStore {
  const s3 = config.s3;
  if (s3) {
    return createS3BlobStore({
      bucket: s3.bucket,
      prefix: s3.prefix,
      clientConfig: {
        region: s3.region,
        ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
        ...(s3.accessKeyId && s3.secretAccessKey
          ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }
          : {}),
        forcePathStyle: s3.forcePathStyle,
      },
    });
  }
  const refuse = async (): Promise<never> => {
    throw new JetflowError(
      "UNAVAILABLE",
      'no object store configured: add an "s3" section to the orchestrator config to store artifacts and large outputs',
    );
  };
  return { put: refuse, get: refuse, has: refuse, delete: refuse, list: refuse, deletePrefix: async () => 0 };
}
