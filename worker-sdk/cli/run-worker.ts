/**
 * The worker process: loads the stage definitions, connects to NATS with the worker's scoped
 * credentials, and runs the worker SDK until a signal. Uses only what a credential-free worker
 * machine has: the worker SDK, the contract and NATS (never postgres or @aws-sdk).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { createTopology } from "../../src/contract/topology.js";
import type { AnyStage } from "../../src/contract/stage-types.js";
import { connectNats } from "../connect.js";
import { WorkerConfigError } from "../errors.js";
import { startHealthServer } from "../health-server.js";
import { createNatsFleetMember } from "../nats-fleet.js";
import { createNatsWorkerTransport } from "../nats-transport.js";
import { loadStageModule as loadModule, type StageModule } from "../stage-module.js";
import { createActivityWorker, type WorkerStats } from "../worker.js";
import { createJsonLogger } from "./logger.js";
import { recordCodeLoad } from "../../src/contract/fleet-metrics.js";
import type { WorkerOptions } from "./worker-command.js";
import { enterWorkDir } from "./worker-config.js";

/**
 * Imports `file` and returns its stages by id (shapes: worker-sdk `loadStageModule`). A module
 * that declares a `version` other than `codeVersion` is refused: it would run tasks created for
 * code it does not hold. @throws WorkerConfigError naming what is wrong.
 */
export async function loadStageModule(file: string, codeVersion?: string): Promise<Map<string, AnyStage>> {
  return (await loadCheckedModule(file, codeVersion)).stages;
}

async function loadCheckedModule(file: string, codeVersion?: string): Promise<StageModule> {
  const mod = await loadModule(file);
  if (codeVersion && mod.version && mod.version !== codeVersion) {
    throw new WorkerConfigError(`--module ${mod.file} declares version "${mod.version}" but --code-version is "${codeVersion}"`);
  }
  return mod;
}

/** Runs until SIGTERM/SIGINT (drain; a second signal aborts) or the connection is lost. Resolves with the exit code. */
export async function runWorker(opts: WorkerOptions, from: { bundleLoadMs?: number } = {}): Promise<number> {
  const logger = createJsonLogger(opts.logLevel, { service: "jetflow-worker", workerId: opts.workerId, queue: opts.queue });
  const loadStarted = performance.now();
  const mod = await loadCheckedModule(opts.module, opts.codeVersion);
  // A bundle's load includes its fetch and verification (`from.bundleLoadMs`).
  const codeLoadMs = (from.bundleLoadMs ?? 0) + performance.now() - loadStarted;
  recordCodeLoad(codeLoadMs / 1000, opts.queue, from.bundleLoadMs === undefined ? "path" : "store");
  const registry = mod.stages;
  const nc: NatsConnection = await connectNats({
    servers: opts.servers,
    name: opts.workerId,
    creds: opts.creds,
    user: opts.user,
    password: opts.password,
    // A scoped worker user may only receive replies under its own inbox (docs/security.md).
    inboxPrefix: opts.inboxPrefix ?? (opts.user ? `_INBOX_${opts.user}` : undefined),
    maxReconnectAttempts: opts.reconnectAttempts,
    reconnectTimeWaitMs: opts.reconnectWaitMs,
  });
  if (opts.workDir) enterWorkDir(opts.workDir);
  const connection = watchConnection(nc, opts, logger);
  const topology = createTopology({ prefix: opts.prefix, streamPrefix: opts.streamPrefix });
  const transport = createNatsWorkerTransport(nc, { topology, queue: opts.queue, codeVersion: opts.codeVersion, logger });
  const worker = createActivityWorker({
    transport,
    queue: opts.queue,
    stageCodeVersion: opts.codeVersion,
    registry,
    // Activity threads import the module from this file (thread isolation).
    modulePath: mod.file,
    isolation: opts.isolation,
    threadHeapMb: opts.threadHeapMb,
    cancelGraceMs: opts.cancelGraceMs,
    threadStartTimeoutMs: opts.threadStartTimeoutMs,
    threadMaxAttempts: opts.threadMaxAttempts,
    workerId: opts.workerId,
    maxConcurrentTasks: opts.concurrency,
    labels: opts.labels,
    heartbeatIntervalMs: opts.heartbeatMs,
    pollWaitMs: opts.pollMs,
    logger,
    codeLoadMs,
    ...(opts.fleet
      ? {
          fleet: createNatsFleetMember(nc, {
            topology,
            logger,
            ...(opts.fleetHeartbeatMs ? { heartbeatIntervalMs: opts.fleetHeartbeatMs } : {}),
          }),
        }
      : {}),
  });
  worker.start();
  const health =
    opts.healthPort === undefined
      ? null
      : await startHealthServer({ port: opts.healthPort, report: () => workerHealth(worker.getStats(), opts, nc.isClosed()) });
  logger.info(
    { stages: [...registry.keys()], codeVersion: opts.codeVersion, concurrency: opts.concurrency, isolation: opts.isolation },
    "worker started",
  );

  const exitCode = await new Promise<number>((done) => {
    let signals = 0;
    let connectionLost = false;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        logger.info({ signal, inFlight: worker.getStats().inFlight }, "draining: in-flight tasks finish, nothing new is pulled");
        worker.stop({ drain: true }).then(
          () => done(0),
          (err: unknown) => {
            logger.error({ err: (err as Error).message }, "drain failed");
            done(1);
          },
        );
      } else {
        logger.warn({ signal }, "second signal: aborting in-flight tasks (they are released for redelivery)");
        void worker.stop({ drain: false });
      }
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    // A fleet drain/stop request (`jetflow workers drain <id>`) ends the worker too: exit 0 once it has.
    void worker.done().then(() => {
      // A stop after the connection was lost is not a control request: that path exits 1.
      if (signals === 0 && !connectionLost) {
        logger.info({}, "stopped by a control request");
        done(0);
      }
    });
    void nc.closed().then((err) => {
      if (signals > 0) return;
      connectionLost = true;
      // Reconnecting gave up: nothing can be pulled or reported; leases expire and tasks go to other workers.
      const spent = connection.disconnectedAt ? Date.now() - connection.disconnectedAt : 0;
      logger.error(
        {
          err: err?.message ?? "closed",
          reconnectAttempts: opts.reconnectAttempts,
          reconnectWaitMs: opts.reconnectWaitMs,
          disconnectedMs: spent,
        },
        `NATS connection lost: gave up reconnecting after ${opts.reconnectAttempts} attempts (${Math.round(spent / 1000)} s); exiting 1`,
      );
      void worker.stop({ drain: false }).finally(() => done(1));
    });
  });
  await health?.close();
  await transport.close?.();
  if (!nc.isClosed()) await nc.drain();
  logger.info({ ...worker.getStats(), lastPullAt: undefined }, "worker stopped");
  return exitCode;
}

/**
 * Logs every disconnect and reconnect of `nc` (the client reconnects by itself, `attempts` times
 * `waitMs` apart) and remembers when the connection went down, for the give-up message.
 */
function watchConnection(
  nc: NatsConnection,
  o: Pick<WorkerOptions, "reconnectAttempts" | "reconnectWaitMs">,
  logger: ReturnType<typeof createJsonLogger>,
): { disconnectedAt: number | null } {
  const state: { disconnectedAt: number | null } = { disconnectedAt: null };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        state.disconnectedAt ??= Date.now();
        const forever = o.reconnectAttempts < 0;
        logger.warn(
          { server: "server" in s ? s.server : undefined, reconnectAttempts: o.reconnectAttempts, reconnectWaitMs: o.reconnectWaitMs },
          forever
            ? "NATS connection lost; reconnecting without limit"
            : `NATS connection lost; reconnecting (up to ${o.reconnectAttempts} attempts, ${o.reconnectWaitMs} ms apart, then exit 1)`,
        );
      } else if (s.type === "reconnect") {
        const downMs = state.disconnectedAt ? Date.now() - state.disconnectedAt : 0;
        state.disconnectedAt = null;
        logger.info({ server: "server" in s ? s.server : undefined, downMs }, "NATS connection re-established");
      }
    }
  })().catch((err: unknown) => logger.warn({ err: String(err) }, "NATS status watch ended"));
  return state;
}

/**
 * Healthy while connected and pulling: the last successful pull is recent, or the worker is full
 * (it does not pull while at capacity). Stopped or failed workers are unhealthy.
 */
export function workerHealth(s: WorkerStats, o: Pick<WorkerOptions, "pollMs" | "concurrency">, disconnected: boolean, now = Date.now()) {
  const sincePull = s.lastPullAt ? now - s.lastPullAt.getTime() : null;
  const pulling = s.inFlight >= o.concurrency || (sincePull !== null && sincePull <= Math.max(60_000, 3 * o.pollMs));
  const healthy =
    !disconnected && (s.status === "running" || s.status === "draining" || s.status === "idle") && (pulling || s.status === "idle");
  return {
    healthy,
    status: disconnected ? "disconnected" : s.status,
    inFlight: s.inFlight,
    capacity: o.concurrency,
    completed: s.completed,
    failed: s.failed,
    lastSuccessfulPull: s.lastPullAt?.toISOString() ?? null,
  };
}
