import { InvalidArgumentError, type Command } from "commander";
import { resolve } from "node:path";
import { z } from "zod";
import { parseOptions } from "../shared/parse-options.js";

const Port = z.coerce.number().int().min(0).max(65_535);

const DevOptions = z.object({
  dir: z.string().min(1).default(".jetflow"),
  databaseUrl: z
    .string()
    .url()
    .optional()
    .default(process.env.JETFLOW_DATABASE_URL ?? process.env.DATABASE_URL ?? ""),
  natsUrl: z
    .string()
    .optional()
    .default(process.env.JETFLOW_NATS_URL ?? process.env.NATS_URL ?? ""),
  natsCreds: z
    .string()
    .optional()
    .default(process.env.JETFLOW_NATS_CREDS ?? ""),
  s3Endpoint: z
    .string()
    .optional()
    .default(process.env.JETFLOW_S3_ENDPOINT ?? ""),
  s3Bucket: z.string().min(3).default("jetflow"),
  workflows: z
    .string()
    .optional()
    .default(process.env.JETFLOW_WORKFLOWS ?? ""),
  workerModule: z.string().optional(),
  queue: z.string().min(1).optional(),
  codeVersion: z.string().min(1).optional(),
  workerLabels: z.string().default("gpu=true"),
  natsPort: Port.optional(),
  postgresPort: Port.optional(),
  s3Port: Port.optional(),
  healthPort: Port.optional(),
  consolePort: Port.optional(),
});

/**
 * `jetflow dev`: a complete local deployment until Ctrl+C — Postgres (embedded), NATS with
 * JetStream in operator mode, S3 (embedded), migrations and streams, an orchestrator and one
 * worker with a scoped credential, the web console — then one block saying where everything is.
 */
export function register(program: Command): void {
  program
    .command("dev")
    .description("start a complete local deployment (Postgres, NATS, S3, orchestrator, a worker) until Ctrl+C; state in ./.jetflow")
    .option("--dir <dir>", "state directory: databases, JetStream store, objects, credentials, logs (default .jetflow)")
    .option("--database-url <url>", "use this Postgres instead of the embedded one (env JETFLOW_DATABASE_URL, DATABASE_URL)")
    .option("--nats-url <url>", "use this NATS (JetStream enabled) instead of starting nats-server (env JETFLOW_NATS_URL, NATS_URL)")
    .option("--nats-creds <file>", "credentials for --nats-url (env JETFLOW_NATS_CREDS)")
    .option("--s3-endpoint <url>", "use this S3 endpoint instead of the embedded one (env JETFLOW_S3_ENDPOINT; keys from AWS_*)")
    .option("--s3-bucket <name>", "bucket for artifacts (default jetflow)")
    .option("-w, --workflows <module>", "workflow module, TypeScript or JavaScript (env JETFLOW_WORKFLOWS; default the bundled example)")
    .option("--worker-module <module>", "module exporting `stages` for the worker (default the example's activities)")
    .option("--queue <queue>", "remote task queue of the worker (default demo)")
    .option("--code-version <version>", "stage code version of the worker (default v1)")
    .option("--worker-labels <k=v,...>", "labels of the worker (default gpu=true)")
    .option("--nats-port <port>", "NATS client port (default 14222, a free one if taken; 0 = any)")
    .option("--postgres-port <port>", "Postgres port (default 15432, a free one if taken; 0 = any)")
    .option("--s3-port <port>", "S3 port (default 19000, a free one if taken; 0 = any)")
    .option("--health-port <port>", "orchestrator /healthz port (default 19464, a free one if taken; 0 = any)")
    .option("--console-port <port>", "web console port on 127.0.0.1 (default 14280, a free one if taken; 0 = any)")
    .action(async (raw: Record<string, unknown>) => {
      const o = parseOptions(DevOptions, raw);
      // The printed "export JETFLOW_NATS_URL=… JETFLOW_NATS_CREDS=<dir>/nats-auth/…" is for other
      // shells; when it is set in this one, it names the dev server itself, not an external NATS.
      if (!raw.natsUrl && o.natsCreds && resolve(o.natsCreds).startsWith(`${resolve(o.dir, "nats-auth")}/`)) {
        o.natsUrl = "";
        o.natsCreds = "";
      }
      if (o.natsCreds && !o.natsUrl)
        throw new InvalidArgumentError("--nats-creds needs --nats-url (the started server uses its own credentials)");
      // Loaded lazily: the stack pulls in postgres, the AWS SDK and s3rver, which other commands should not pay for.
      const { startDevStack } = await import("../dev/stack.js");
      const { renderBanner } = await import("../dev/banner.js");
      const say = (line: string) => process.stdout.write(`jetflow dev: ${line}\n`);
      const ports = {
        ...(o.natsPort !== undefined ? { nats: o.natsPort } : {}),
        ...(o.postgresPort !== undefined ? { postgres: o.postgresPort } : {}),
        ...(o.s3Port !== undefined ? { s3: o.s3Port } : {}),
        ...(o.healthPort !== undefined ? { health: o.healthPort } : {}),
        ...(o.consolePort !== undefined ? { console: o.consolePort } : {}),
      };
      const stack = await startDevStack({
        dir: resolve(o.dir),
        ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
        ...(o.natsUrl ? { natsUrl: o.natsUrl } : {}),
        ...(o.natsCreds ? { natsCreds: resolve(o.natsCreds) } : {}),
        ...(o.s3Endpoint ? { s3Endpoint: o.s3Endpoint } : {}),
        s3Bucket: o.s3Bucket,
        ...(o.workflows ? { workflows: resolve(o.workflows) } : {}),
        ...(o.workerModule ? { workerModule: resolve(o.workerModule) } : {}),
        ...(o.queue ? { queue: o.queue } : {}),
        ...(o.codeVersion ? { codeVersion: o.codeVersion } : {}),
        workers: [{ id: "dev-worker-1", labels: o.workerLabels }],
        ports,
        log: say,
      });
      const exampleInput = o.workflows ? undefined : JSON.stringify({ documentId: "durable-execution" });
      process.stdout.write(`${renderBanner(stack, process.cwd(), exampleInput)}\n`);
      for (const w of stack.workers) {
        void w.exited.then((code) => {
          if (!stopping) say(`worker ${w.id} exited with ${code}; see ${w.logFile}`);
        });
      }
      let stopping = false;
      let firstSignalAt = 0;
      await new Promise<void>((done) => {
        const onSignal = (signal: NodeJS.Signals) => {
          // One Ctrl+C can arrive twice (the terminal's group signal, and npx relaying it).
          if (stopping && Date.now() - firstSignalAt < 2_000) return;
          if (stopping) {
            say(`second ${signal}: killing what is left`);
            process.exit(130); // the stack's exit hook SIGKILLs the children
          }
          stopping = true;
          firstSignalAt = Date.now();
          say(`${signal}: stopping workers, orchestrator, NATS, S3 and Postgres`);
          stack.stop().then(
            () => {
              say("stopped");
              done();
            },
            (err: unknown) => {
              process.stderr.write(`jetflow dev: ${(err as Error).message}\n`);
              process.exitCode = 1;
              done();
            },
          );
        };
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
      });
    });
}
