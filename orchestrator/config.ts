import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { ValidationError } from "../src/contract/errors.js";
import { issuesFromZod } from "../src/contract/validation.js";
import { RemoteConfig } from "./remote-config.js";

/**
 * Orchestrator configuration: a JSON file (`--config`) overlaid by environment variables.
 * Every field is validated; an error names the field.
 */
export const OrchestratorConfig = z
  .strictObject({
    /** Module exporting `workflows: Workflow[]` (or a default export of that array). */
    workflows: z.string().min(1, "workflows module path is required"),
    database: z.strictObject({
      url: z.string().url(),
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]*$/, "schema must be a plain lower-case identifier")
        .default("jetflow"),
      /** Apply pending migrations at start (under an advisory lock; safe with several orchestrators). */
      migrate: z.boolean().default(false),
      maxConnections: z.number().int().positive().default(10),
    }),
    nats: z.strictObject({
      servers: z.string().min(1),
      creds: z.string().optional(),
      user: z.string().optional(),
      password: z.string().optional(),
      prefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default("jetflow"),
      streamPrefix: z
        .string()
        .regex(/^[A-Z0-9_]+$/)
        .default("JETFLOW"),
      /**
       * Replicas of every stream, consumer and KV bucket (3 on a cluster). Unset: keep what exists
       * (e.g. what `jetflow streams init --replicas 3` made); new assets get 1.
       */
      replicas: z.number().int().min(1).max(5).optional(),
    }),
    jobs: z
      .strictObject({
        /**
         * Where the kernel's jobs queue: a JetStream work-queue stream (default), or the
         * Postgres `jobs` table (pg-boss style: one server less to run; the API, events and
         * remote activities still use NATS).
         */
        transport: z.enum(["jetstream", "postgres"]).default("jetstream"),
        /** Job lease = JetStream AckWait (or the Postgres row lease). */
        leaseMs: z.number().int().min(100).default(30_000),
        maxDeliveries: z.number().int().min(1).default(5),
      })
      .default({ transport: "jetstream", leaseMs: 30_000, maxDeliveries: 5 }),
    host: z
      .strictObject({
        workerId: z.string().min(1).optional(),
        orchestrationIntervalMs: z.number().int().positive().default(1_000),
        jobPollIntervalMs: z.number().int().positive().default(1_000),
        staleLeaseThresholdMs: z.number().int().positive().default(60_000),
        /** RUNNING runs with no activity for this long are repaired (e.g. claimed while Postgres restarted). Default 5 min. */
        stuckRunThresholdMs: z.number().int().positive().optional(),
        maxConcurrentJobs: z.number().int().positive().default(4),
      })
      .default({ orchestrationIntervalMs: 1_000, jobPollIntervalMs: 1_000, staleLeaseThresholdMs: 60_000, maxConcurrentJobs: 4 }),
    /**
     * Object store for large stage outputs and artifacts (S3, R2, MinIO). Without it, outputs stay
     * inline in Postgres (up to `inlineOutputLimitBytes`) and artifact writes fail with a clear error.
     */
    s3: z
      .strictObject({
        bucket: z.string().min(3),
        prefix: z.string().default(""),
        endpoint: z.string().url().optional(),
        region: z.string().min(1).default("us-east-1"),
        accessKeyId: z.string().min(1).optional(),
        secretAccessKey: z.string().min(1).optional(),
        forcePathStyle: z.boolean().default(false),
      })
      .optional(),
    /** Stage outputs whose JSON is larger go to the object store (default 64 KiB; 8 MiB without S3). */
    inlineOutputLimitBytes: z.number().int().positive().optional(),
    api: z.strictObject({ enabled: z.boolean().default(true) }).default({ enabled: true }),
    /** Remote activities run by `jetflow worker` processes (see docs/remote-workers.md). Needs `s3`. */
    remote: RemoteConfig.optional(),
    logLevel: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
    /** Serve GET /healthz on this port (127.0.0.1) for process supervisors. */
    healthPort: z.number().int().min(0).max(65_535).optional(),
    /** Serve the web console (docs/console.md) on this port, bound to 127.0.0.1; 0 picks a free port. */
    consolePort: z.number().int().min(0).max(65_535).optional(),
  })
  .refine((c) => !c.remote || c.s3, {
    path: ["remote"],
    message: 'needs an "s3" section: workers move artifacts by URLs the orchestrator presigns',
  });
/** The validated orchestrator configuration (see docs/orchestrator.md). */
export type OrchestratorConfig = z.output<typeof OrchestratorConfig>;

/**
 * Reads the config file (if any), applies env overrides, validates, and resolves the workflows path.
 * @throws ValidationError naming each bad or unknown field (every object is strict: a misspelt key is refused).
 */
export async function loadOrchestratorConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<OrchestratorConfig> {
  let raw: Record<string, any> = {};
  let base = process.cwd();
  if (file) {
    const text = await readFile(file, "utf8");
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new Error(`config file ${file} is not valid JSON: ${(e as Error).message}`);
    }
    base = dirname(resolve(file));
  }
  const databaseUrl = env.JETFLOW_DATABASE_URL ?? env.DATABASE_URL;
  const natsUrl = env.JETFLOW_NATS_URL ?? env.NATS_URL;
  raw.database = { ...(raw.database ?? {}), ...(databaseUrl ? { url: databaseUrl } : {}) };
  raw.nats = { ...(raw.nats ?? {}), ...(natsUrl ? { servers: natsUrl } : {}) };
  if (env.JETFLOW_NATS_CREDS) raw.nats.creds = env.JETFLOW_NATS_CREDS;
  if (env.JETFLOW_WORKFLOWS) raw.workflows = env.JETFLOW_WORKFLOWS;
  if (env.JETFLOW_LOG_LEVEL) raw.logLevel = env.JETFLOW_LOG_LEVEL;
  if (env.JETFLOW_HEALTH_PORT) raw.healthPort = Number(env.JETFLOW_HEALTH_PORT);
  if (env.JETFLOW_CONSOLE_PORT) raw.consolePort = Number(env.JETFLOW_CONSOLE_PORT);
  const parsed = OrchestratorConfig.safeParse(raw);
  if (!parsed.success) throw new ValidationError("invalid orchestrator config", issuesFromZod(parsed.error));
  return { ...parsed.data, workflows: resolve(base, parsed.data.workflows) };
}
