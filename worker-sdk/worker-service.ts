/**
 * The worker service: many project workers in one process on a worker machine, started, stopped
 * and inspected through NATS requests (a `@nats-io/services` micro-service, so `$SRV.PING`
 * finds it). Subjects and schemas: src/contract/worker-service.ts.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { Svcm, type ServiceMsg } from "@nats-io/services";
import type { z } from "zod";
import { createTopology, type Topology } from "../src/contract/topology.js";
import {
  WS_OPS,
  WsRestartRequest,
  WsStartRequest,
  WsStatusRequest,
  WsStopRequest,
  workerServiceSubject,
  type WsListReply,
  type WsOp,
  type WsProjectStatus,
} from "../src/contract/worker-service.js";
import { BundleRejectedError, WorkerConfigError } from "./errors.js";
import { loadVerifiedBundle } from "./bundle-loader.js";
import { readCurrentVersion } from "./bundle-fetch.js";
import { followCurrentVersion, type VersionFollower } from "./version-follower.js";
import { silentWorkerLogger, type WorkerLogger } from "./logger.js";
import { createNatsFleetMember, type NatsFleetMemberOptions } from "./nats-fleet.js";
import { createNatsWorkerTransport } from "./nats-transport.js";
import { ProjectWorker, type TransportFactory } from "./project-worker.js";
import { DEFAULT_RESTART_POLICY, ProjectSupervisor, type RestartPolicy } from "./project-supervisor.js";
import type { Isolation } from "./worker-options.js";
import { formatIssues, issuesFromZod } from "../src/contract/validation.js";
import { serveRequest } from "../src/contract/guarded-reply.js";
import { startPlacement } from "./placement.js";

export interface WorkerServiceOptions {
  nc: NatsConnection;
  /** Unique per process; part of the request subjects. */
  serviceId: string;
  topology?: Topology;
  logger?: WorkerLogger;
  /** Where relative module paths resolve. Default: the process's working directory. */
  cwd?: string;
  /** Defaults to the NATS worker transport on `nc`. */
  makeTransport?: TransportFactory;
  watchIntervalMs?: number;
  heartbeatIntervalMs?: number;
  pollWaitMs?: number;
  /** Where the projects' stage code runs. Default "thread" (activity threads, reused across attempts). */
  isolation?: Isolation;
  /** Heap limit of an activity thread (MiB). */
  threadHeapMb?: number;
  /** How long a cancelled activity may ignore its signal before its thread is terminated. */
  cancelGraceMs?: number;
  /** Attempts an activity thread serves before it is replaced (default 100; 1: a fresh thread per attempt). */
  threadMaxAttempts?: number;
  /** Register every project worker in the fleet registry (`jetflow workers list`). Default on; `false` turns it off. */
  fleet?: false | NatsFleetMemberOptions;
  /** Backoff and crash-loop limit of crashed projects. Default {@link DEFAULT_RESTART_POLICY}. */
  restart?: Partial<RestartPolicy>;
  /** Lets `start` take `fromStore: true` (docs/deploy.md): bundles signed by these keys, written under `bundleDir`. */
  bundles?: { trustedKeys: readonly string[]; bundleDir: string };
  /** How often a `follow` project reads its queue's current version. Default 5000 ms. */
  followIntervalMs?: number;
  /**
   * Place projects from the desired state (`jetflow projects set`, docs/worker-service.md
   * "Placement"): this service's labels and the lease. Off by default: projects only start by request.
   */
  placement?: { labels?: Record<string, string>; leaseMs?: number };
}

/** A running worker service. */
export interface WorkerService {
  readonly serviceId: string;
  list(): WsProjectStatus[];
  /** Stops answering requests, then drains every project. */
  stop(): Promise<void>;
}

/** A request the service refuses, with a code for the error reply. */
class WsError extends Error {
  constructor(
    readonly code: "BAD_REQUEST" | "NOT_FOUND" | "CONFLICT",
    message: string,
  ) {
    super(message);
  }
}

const STATUS: Record<WsError["code"] | "INTERNAL", number> = { BAD_REQUEST: 400, NOT_FOUND: 404, CONFLICT: 409, INTERNAL: 500 };

/** What a repeated start asks differently from the running project, or null when it asks the same. */
function startDifference(running: WsStartRequest, req: WsStartRequest, version: string | null): string | null {
  if (req.queue !== running.queue) return `queue "${running.queue}"`;
  if (req.module !== running.module) return `module "${running.module}"`;
  if (req.codeVersion && version && req.codeVersion !== version) return `version "${version}"`;
  if (req.concurrency !== undefined && req.concurrency !== (running.concurrency ?? 1)) return `concurrency ${running.concurrency ?? 1}`;
  if (req.labels && JSON.stringify(sorted(req.labels)) !== JSON.stringify(sorted(running.labels ?? {})))
    return `labels ${JSON.stringify(running.labels ?? {})}`;
  return null;
}

const sorted = (r: Record<string, string>) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));

function parse<S extends z.ZodType>(schema: S, data: Uint8Array): z.output<S> {
  let json: unknown = {};
  try {
    if (data.length > 0) json = JSON.parse(new TextDecoder().decode(data));
  } catch (e) {
    throw new WsError("BAD_REQUEST", `request body is not valid JSON: ${(e as Error).message}`);
  }
  const r = schema.safeParse(json);
  if (!r.success)
    throw new WsError(
      "BAD_REQUEST",
      formatIssues("invalid request", issuesFromZod(r.error), (p) => p || "body"),
    );
  return r.data;
}

/** Starts the worker service's request endpoints on `nc`. */
export async function startWorkerService(o: WorkerServiceOptions): Promise<WorkerService> {
  const topology = o.topology ?? createTopology();
  const logger = o.logger ?? silentWorkerLogger;
  const makeTransport: TransportFactory =
    o.makeTransport ?? ((queue, codeVersion) => createNatsWorkerTransport(o.nc, { topology, queue, codeVersion, logger }));
  const fleet = o.fleet;
  const makeFleetMember = fleet === false ? undefined : () => createNatsFleetMember(o.nc, { topology, logger, ...fleet });
  const policy: RestartPolicy = { ...DEFAULT_RESTART_POLICY, ...o.restart };
  const projects = new Map<string, ProjectSupervisor>();
  /** The version followers of `follow` projects, stopped before their supervisor. */
  const followers = new Map<ProjectSupervisor, VersionFollower>();
  const stopSupervisor = async (sup: ProjectSupervisor, drain = true): Promise<void> => {
    const f = followers.get(sup);
    followers.delete(sup);
    await f?.stop();
    await sup.stop({ drain });
  };
  const follow = (sup: ProjectSupervisor, req: WsStartRequest): void => {
    followers.set(
      sup,
      followCurrentVersion({
        read: async () => (await readCurrentVersion(o.nc, req.queue, { prefix: topology.prefix }))?.version ?? null,
        running: () => sup.version,
        onChange: () => sup.switchVersion(),
        intervalMs: o.followIntervalMs ?? 5_000,
        logger,
        context: { project: req.project, queue: req.queue },
      }),
    );
  };

  const get = (project: string): ProjectSupervisor => {
    const p = projects.get(project);
    if (!p) throw new WsError("NOT_FOUND", `no project "${project}" on worker service ${o.serviceId}`);
    return p;
  };
  const asWsError = (err: unknown): unknown => (err instanceof WorkerConfigError ? new WsError("BAD_REQUEST", err.message) : err);

  /** `fromStore`: fetch and verify the bundle now; a refusal is a 400 naming the failed check. */
  const resolveModule = async (req: WsStartRequest): Promise<{ request: WsStartRequest & { module: string }; bundleLoadMs?: number }> => {
    if (req.module !== undefined) return { request: { ...req, module: req.module } };
    if (!o.bundles)
      throw new WsError("BAD_REQUEST", `worker service ${o.serviceId} has no --trusted-keys: it cannot load bundles from the store`);
    const b = await loadVerifiedBundle(o.nc, {
      queue: req.queue,
      version: req.codeVersion ?? null,
      prefix: topology.prefix,
      ...o.bundles,
    }).catch((err: unknown) => {
      throw err instanceof BundleRejectedError ? new WsError("BAD_REQUEST", err.message) : err;
    });
    logger.info({ project: req.project, codeVersion: b.version, sha256: b.sha256, loadMs: b.loadMs }, "bundle fetched and verified");
    // A deployed version never changes: nothing to watch.
    return { request: { ...req, module: b.file, codeVersion: b.version, watch: false }, bundleLoadMs: b.loadMs };
  };

  function supervise(req: WsStartRequest): ProjectSupervisor {
    const sup: ProjectSupervisor = new ProjectSupervisor({
      request: req,
      serviceId: o.serviceId,
      policy,
      logger,
      // fromStore: every launch fetches and verifies the bundle again (a restart loads what is stored).
      launch: async ({ firstGeneration, restarts, onCrash }) =>
        ProjectWorker.start({
          ...(await resolveModule(req)),
          restarts,
          serviceId: o.serviceId,
          makeTransport,
          logger,
          cwd: o.cwd,
          watchIntervalMs: o.watchIntervalMs,
          heartbeatIntervalMs: o.heartbeatIntervalMs,
          pollWaitMs: o.pollWaitMs,
          isolation: o.isolation,
          threadHeapMb: o.threadHeapMb,
          cancelGraceMs: o.cancelGraceMs,
          threadMaxAttempts: o.threadMaxAttempts,
          makeFleetMember,
          firstGeneration,
          onCrash,
          // Two versions on one queue in one service is a half-done deploy: refuse it before anything is pulled.
          beforeLaunch: (version) => {
            const clash = [...projects.values()].find(
              (p) => p !== sup && !p.ended && p.queue === req.queue && p.version && p.version !== version,
            );
            if (clash)
              throw new WsError(
                "CONFLICT",
                `queue "${req.queue}" already runs version "${clash.version}" (project ${clash.request.project}); refusing version "${version}"`,
              );
          },
        }),
    });
    return sup;
  }

  /** Starts a project (idempotent), as a start request or the placement agent asks. */
  async function startProject(req: WsStartRequest): Promise<WsProjectStatus> {
    const existing = projects.get(req.project);
    if (existing && !existing.ended) {
      // Idempotent: the same start twice returns the running worker; a different one is a conflict.
      const diff = startDifference(existing.request, req, existing.version);
      if (diff) throw new WsError("CONFLICT", `project "${req.project}" is already running with ${diff}; stop or restart it instead`);
      await existing.ready.catch((err: unknown) => {
        throw asWsError(err);
      });
      return existing.status();
    }
    // A failed or stopped project is started afresh, with this request. The new supervisor takes
    // its place at once, so a concurrent start finds it (and waits for it) instead of racing it.
    const sup = supervise(req);
    projects.set(req.project, sup);
    // Settled into a value at once: a refusal must not sit unhandled while the old one stops.
    const refused = sup.start().then(
      () => null,
      (err: unknown) => ({ err }),
    );
    if (existing) await stopSupervisor(existing);
    const r = await refused;
    if (r) {
      if (projects.get(req.project) === sup) projects.delete(req.project);
      throw asWsError(r.err);
    }
    if (req.follow) follow(sup, req);
    logger.info({ project: req.project, queue: req.queue, version: sup.version, follow: req.follow ?? false }, "project worker started");
    return sup.status();
  }

  async function stopProject(project: string, drain: boolean): Promise<WsProjectStatus> {
    const sup = get(project);
    await stopSupervisor(sup, drain);
    if (projects.get(project) === sup) projects.delete(project);
    return sup.status();
  }

  const handlers: Record<WsOp, (data: Uint8Array) => Promise<unknown>> = {
    async start(data) {
      return startProject(parse(WsStartRequest, data));
    },
    async restart(data) {
      const req = parse(WsRestartRequest, data);
      const sup = get(req.project);
      await sup.restart({ drain: req.drain ?? true }).catch((err: unknown) => {
        throw asWsError(err);
      });
      logger.info({ project: req.project, version: sup.version }, "project worker restarted by request");
      return sup.status();
    },
    async stop(data) {
      const req = parse(WsStopRequest, data);
      return stopProject(req.project, req.drain ?? true);
    },
    async status(data) {
      return get(parse(WsStatusRequest, data).project).status();
    },
    async list() {
      return { serviceId: o.serviceId, projects: [...projects.values()].map((p) => p.status()) } satisfies WsListReply;
    },
  };

  const service = await new Svcm(o.nc as never).add({
    name: "jetflow-worker-service",
    version: "0.1.0",
    description: "jetflow worker service: per-project workers",
    metadata: { serviceId: o.serviceId },
  });
  for (const op of WS_OPS) {
    service.addEndpoint(op, {
      subject: workerServiceSubject(topology.prefix, o.serviceId, op),
      handler: (err, msg) => {
        if (err) return void logger.error({ op, err: err.message }, "worker service endpoint failed");
        void respond(op, msg);
      },
    });
  }

  /** Answers one request through the guarded reply path: never rejects, headers sanitised, internals hidden. */
  function respond(op: WsOp, msg: ServiceMsg): Promise<void> {
    return serveRequest(msg, () => handlers[op](msg.data), {
      logger,
      context: { op },
      classify: (e) => (e instanceof WsError ? { code: e.code, status: STATUS[e.code], message: e.message } : undefined),
      errorBody: (e) => ({ error: { code: e.code, message: e.message } }),
    });
  }

  const placement = o.placement
    ? await startPlacement({
        ...o.placement,
        nc: o.nc,
        prefix: topology.prefix,
        serviceId: o.serviceId,
        logger,
        host: {
          start: async (req: WsStartRequest) => void (await startProject(req)),
          stop: async (project: string) => void (projects.has(project) ? await stopProject(project, true) : undefined),
          status: (project: string) => projects.get(project)?.status() ?? null,
        },
      }).catch(async (err: unknown) => {
        await service.stop();
        throw err;
      })
    : null;

  return {
    serviceId: o.serviceId,
    list: () => [...projects.values()].map((p) => p.status()),
    async stop() {
      // Claims first, so other services take the placed projects while this one drains.
      await placement?.stop();
      await service.stop();
      await Promise.all([...projects.values()].map((p) => stopSupervisor(p)));
      projects.clear();
    },
  };
}
