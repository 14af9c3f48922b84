/**
 * `jetflow-worker-service` (and `jetflow worker-service serve`, which hands its arguments
 * here): many per-project workers in one process, started and stopped by NATS requests.
 * Runs until SIGTERM/SIGINT, then drains every project.
 */
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { createTopology } from "../../src/contract/topology.js";
import { workerServiceSubject } from "../../src/contract/worker-service.js";
import { parseTrustedKeys } from "../bundle-signature.js";
import { connectNats } from "../connect.js";
import { startHealthServer } from "../health-server.js";
import { startWorkerService } from "../worker-service.js";
import { DEFAULT_RESTART_POLICY } from "../project-supervisor.js";
import { type FlagSpec, Labels, helpText, parseFlags } from "./flags.js";
import { DEFAULT_PLACEMENT_LEASE_MS } from "../../src/contract/placement.js";
import { createJsonLogger } from "./logger.js";

const subjectToken = z.string().regex(/^[A-Za-z0-9_-]+$/, "must be one subject token");

/** The flags of a worker-service process, in help order. */
export const SERVICE_FLAGS: readonly FlagSpec[] = [
  { name: "service-id", type: "string", help: "unique id of this service (default: the host name)", env: "JETFLOW_WORKER_SERVICE_ID" },
  {
    name: "servers",
    short: "s",
    type: "string",
    help: "NATS server URL(s), comma separated (default nats://127.0.0.1:4222)",
    env: "JETFLOW_NATS_URL",
  },
  { name: "creds", type: "string", help: "NATS credentials file", env: "JETFLOW_NATS_CREDS" },
  { name: "user", type: "string", help: "NATS user", env: "JETFLOW_NATS_USER" },
  { name: "password", type: "string", help: "NATS password", env: "JETFLOW_NATS_PASSWORD" },
  {
    name: "inbox-prefix",
    type: "string",
    help: "reply inbox prefix of a scoped user (default: from the creds file)",
    env: "JETFLOW_NATS_INBOX_PREFIX",
  },
  { name: "prefix", type: "string", help: "subject prefix (default jetflow)", env: "JETFLOW_PREFIX" },
  { name: "stream-prefix", type: "string", help: "stream name prefix (default JETFLOW)", env: "JETFLOW_STREAM_PREFIX" },
  { name: "timeout", type: "string", help: "connect timeout in ms (default 10000)" },
  { name: "health-port", type: "string", help: "serve GET /healthz on this port" },
  { name: "restart-base-ms", type: "string", help: "delay before restarting a crashed project; doubles per crash (default 1000)" },
  { name: "restart-max-ms", type: "string", help: "longest delay between restarts (default 30000)" },
  { name: "crash-limit", type: "string", help: "crashes within --crash-window-ms that mark a project failed (default 5)" },
  { name: "crash-window-ms", type: "string", help: "window of --crash-limit (default 300000)" },
  { name: "log-level", type: "string", help: "debug, info, warn, error or silent (default info)" },
  {
    name: "trusted-keys",
    type: "string",
    help: "operator public keys whose deployed bundles `start --from-store` may load (docs/deploy.md)",
    env: "JETFLOW_TRUSTED_DEPLOY_KEYS",
  },
  {
    name: "bundle-dir",
    type: "string",
    help: "where verified bundles are written (default <tmp>/jetflow-bundles)",
    env: "JETFLOW_BUNDLE_DIR",
  },
  {
    name: "placement",
    type: "boolean",
    help: "run the projects the desired state assigns here (`jetflow projects set`; docs/worker-service.md, Placement)",
  },
  {
    name: "labels",
    type: "string",
    help: "this service's labels k=v,... (placement: projects requiring them land here)",
    env: "JETFLOW_SERVICE_LABELS",
  },
  {
    name: "lease-ms",
    type: "string",
    help: `placement lease: renewed every third of it, taken over by others once lapsed (default ${DEFAULT_PLACEMENT_LEASE_MS})`,
  },
];

/** Validated options of a worker-service process. */
export const ServiceOptions = z
  .object({
    serviceId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, "letters, digits, _ and -")
      .default(
        hostname()
          .replace(/[^A-Za-z0-9_-]/g, "_")
          .slice(0, 64),
      ),
    servers: z
      .string()
      .min(1)
      .default(process.env.NATS_URL ?? "nats://127.0.0.1:4222"),
    creds: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    inboxPrefix: subjectToken.optional(),
    prefix: subjectToken.default("jetflow"),
    streamPrefix: subjectToken.default("JETFLOW"),
    timeout: z.coerce.number().int().positive().default(10_000),
    healthPort: z.coerce.number().int().min(0).max(65_535).optional(),
    restartBaseMs: z.coerce.number().int().min(1).default(DEFAULT_RESTART_POLICY.baseMs),
    restartMaxMs: z.coerce.number().int().min(1).default(DEFAULT_RESTART_POLICY.maxMs),
    crashLimit: z.coerce.number().int().min(1).default(DEFAULT_RESTART_POLICY.maxCrashes),
    crashWindowMs: z.coerce.number().int().min(1).default(DEFAULT_RESTART_POLICY.windowMs),
    logLevel: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
    trustedKeys: z
      .string()
      .min(1)
      .transform((v, ctx) => {
        try {
          return parseTrustedKeys(v);
        } catch (err) {
          ctx.addIssue({ code: "custom", message: (err as Error).message });
          return z.NEVER;
        }
      })
      .optional(),
    bundleDir: z.string().min(1).default(join(tmpdir(), "jetflow-bundles")),
    placement: z.boolean().default(false),
    labels: Labels.optional(),
    leaseMs: z.coerce.number().int().min(300).default(DEFAULT_PLACEMENT_LEASE_MS),
  })
  .strict();
export type ServiceOptions = z.output<typeof ServiceOptions>;

export const serviceHelp = (): string => helpText("jetflow-worker-service [options]", SERVICE_FLAGS);

/** Parses a worker service's argv (after the command name). @throws WorkerConfigError naming each bad flag. */
export function parseServiceArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env) {
  return parseFlags(argv, SERVICE_FLAGS, ServiceOptions, env);
}

/** Serves until SIGTERM/SIGINT or the connection closes; resolves with the exit code. */
export async function runWorkerService(o: ServiceOptions): Promise<number> {
  const logger = createJsonLogger(o.logLevel, { service: "jetflow-worker-service", serviceId: o.serviceId });
  const nc = await connectNats({ ...o, name: `worker-service-${o.serviceId}` });
  const service = await startWorkerService({
    nc,
    serviceId: o.serviceId,
    topology: createTopology({ prefix: o.prefix, streamPrefix: o.streamPrefix }),
    logger,
    restart: { baseMs: o.restartBaseMs, maxMs: o.restartMaxMs, maxCrashes: o.crashLimit, windowMs: o.crashWindowMs },
    ...(o.trustedKeys ? { bundles: { trustedKeys: o.trustedKeys, bundleDir: o.bundleDir } } : {}),
    ...(o.placement ? { placement: { labels: o.labels ?? {}, leaseMs: o.leaseMs } } : {}),
  });
  const health =
    o.healthPort === undefined
      ? null
      : await startHealthServer({
          port: o.healthPort,
          report: () => {
            const projects = service.list();
            return {
              healthy: !nc.isClosed(),
              status: nc.isClosed() ? "disconnected" : "running",
              serviceId: o.serviceId,
              inFlight: projects.reduce((n, p) => n + p.inFlight, 0),
              projects,
            };
          },
        });
  logger.info({ subject: workerServiceSubject(o.prefix, o.serviceId, "start") }, "worker service ready");
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
    void nc.closed().then(() => resolve());
  });
  logger.info({}, "stopping: draining every project");
  await service.stop();
  await health?.close();
  if (!nc.isClosed()) await nc.drain();
  return 0;
}
