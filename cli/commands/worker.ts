import type { Command } from "commander";
import { hostname } from "node:os";
import { z } from "zod";
import { Labels, parseOptions } from "../shared/parse-options.js";

const token = (what: string) => z.string().min(1, `${what} is required`);


/**
 * Flags of `jetflow worker`, validated (flags win over env). Exported for tests: a failure
 * names each bad flag.
 */
export const WorkerOptions = z
  .object({
    queue: token("--queue"),
    codeVersion: token("--code-version"),
    module: token("--module (the file exporting the stage definitions)"),
    concurrency: z.coerce.number().int().min(1).max(1024).default(1),
    labels: Labels,
    servers: z.string().min(1).default(process.env.JETFLOW_NATS_URL ?? process.env.NATS_URL ?? "nats://127.0.0.1:4222"),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    creds: z.string().min(1).optional(),
    /** Defaults to `_INBOX_<user>`, the only inbox a scoped worker user may subscribe to (docs/security.md). */
    inboxPrefix: z.string().regex(/^[A-Za-z0-9_-]+$/, "must be one subject token").optional(),
    workerId: z.string().min(1).default(`worker-${hostname()}-${process.pid}`),
    prefix: z.string().regex(/^[A-Za-z0-9_-]+$/, "must be a single subject token").default(process.env.JETFLOW_PREFIX ?? "jetflow"),
    streamPrefix: z.string().regex(/^[A-Za-z0-9_-]+$/).default(process.env.JETFLOW_STREAM_PREFIX ?? "JETFLOW"),
    /** Must be well below the orchestrator's lease (remote.leaseMs): a missed beat loses the task. */
    heartbeatMs: z.coerce.number().int().min(10).default(5_000),
    pollMs: z.coerce.number().int().min(10).default(5_000),
    logLevel: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
    /** Register in the fleet registry and answer control requests (`jetflow workers list|drain|stop`). */
    fleet: z.boolean().default(true),
    fleetHeartbeatMs: z.coerce.number().int().min(100).optional(),
    healthPort: z.coerce.number().int().min(0).max(65_535).optional(),
  })
  .superRefine((o, ctx) => {
    if (o.creds && o.user) ctx.addIssue({ code: "custom", path: ["creds"], message: "give either --creds or --user/--password, not both" });
    if (o.user && o.password === undefined) ctx.addIssue({ code: "custom", path: ["password"], message: "is required with --user (or env JETFLOW_NATS_PASSWORD)" });
  });
export type WorkerOptions = z.output<typeof WorkerOptions>;

/**
 * `jetflow worker --queue q --code-version v --module ./activities.js`: runs remote activities
 * with the worker SDK only (no Postgres, no S3 credentials: artifacts move by presigned URL).
 * SIGTERM/SIGINT drains (in-flight tasks finish and report); a second signal aborts them.
 */
export function register(program: Command): void {
  program
    .command("worker")
    .description("run remote activities of one queue and code version (module exports `stages`: the stage definitions)")
    .requiredOption("-q, --queue <queue>", "task queue to pull")
    .requiredOption("--code-version <version>", "stage code version this worker runs (must match the orchestrator's)")
    .requiredOption("-m, --module <file>", "module exporting `stages` (array or { id: stage }), or a default export of one")
    .option("--concurrency <n>", "tasks run at once (default 1)")
    .option("--labels <k=v,...>", "labels tasks' requiredLabels are matched against")
    .option("-s, --servers <urls>", "NATS server URL(s), comma separated (env JETFLOW_NATS_URL)")
    .option("--user <user>", "NATS user (env JETFLOW_NATS_USER)")
    .option("--password <password>", "NATS password (env JETFLOW_NATS_PASSWORD)")
    .option("--creds <file>", "NATS credentials file (env JETFLOW_NATS_CREDS)")
    .option("--inbox-prefix <token>", "reply inbox prefix (default _INBOX_<user> with --user)")
    .option("--worker-id <id>", "id reported with every task (default worker-<host>-<pid>)")
    .option("--prefix <prefix>", "subject prefix (env JETFLOW_PREFIX)")
    .option("--stream-prefix <prefix>", "stream name prefix (env JETFLOW_STREAM_PREFIX)")
    .option("--heartbeat-ms <ms>", "heartbeat interval; keep it well below the orchestrator's lease (default 5000)")
    .option("--poll-ms <ms>", "longest single pull (default 5000)")
    .option("--log-level <level>", "debug, info, warn, error or silent")
    .option("--no-fleet", "do not register in the fleet registry nor answer control requests")
    .option("--fleet-heartbeat-ms <ms>", "registry heartbeat (default 30000)")
    .option("--health-port <port>", "serve GET /healthz (JSON: status, in-flight, last successful pull) on this port")
    .action(async (raw: Record<string, unknown>) => {
      const env = process.env;
      const opts = parseOptions(WorkerOptions, {
        ...raw,
        user: raw.user ?? (env.JETFLOW_NATS_USER || undefined),
        password: raw.password ?? env.JETFLOW_NATS_PASSWORD,
        creds: raw.creds ?? (env.JETFLOW_NATS_CREDS || undefined),
      });
      // Loaded lazily: `jetflow runs ...` should not pay for the worker SDK.
      const { runWorker } = await import("../worker/run-worker.js");
      process.exitCode = await runWorker(opts);
    });
}
