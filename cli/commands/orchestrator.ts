import { InvalidArgumentError, type Command } from "commander";
import { resolve } from "node:path";

interface OrchestratorFlags {
  config?: string;
  workflows?: string;
  databaseUrl?: string;
  servers?: string;
  creds?: string;
  migrate?: boolean;
  healthPort?: string;
  consolePort?: string;
  logLevel?: string;
}

function portFlag(flag: string, value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new InvalidArgumentError(`${flag}: must be an integer in 0..65535, got "${value}"`);
  return port;
}

/**
 * `jetflow orchestrator --config <file>` (or `--workflows`, `--database-url`, `--servers`): runs kernel, node host, API service and event sink
 * until SIGTERM/SIGINT, then stops gracefully (in-flight jobs finish) and exits 0.
 */
export function register(program: Command): void {
  program
    .command("orchestrator")
    .description(
      "run an orchestrator: Postgres state, JetStream jobs/events, the NATS API (env: JETFLOW_DATABASE_URL, JETFLOW_NATS_URL, JETFLOW_WORKFLOWS)",
    )
    .option("-c, --config <file>", "JSON config file (see docs/orchestrator.md); the flags below override it")
    .option("--workflows <module>", "workflow module, TypeScript or JavaScript (env JETFLOW_WORKFLOWS)")
    .option("--database-url <url>", "Postgres connection URL (env JETFLOW_DATABASE_URL, else DATABASE_URL)")
    .option("-s, --servers <urls>", "NATS server URL(s), comma separated (env JETFLOW_NATS_URL, else NATS_URL)")
    .option("--creds <file>", "NATS credentials file (env JETFLOW_NATS_CREDS)")
    .option("--migrate", "apply pending database migrations at start")
    .option("--health-port <port>", "serve GET /healthz on this port (env JETFLOW_HEALTH_PORT)")
    .option("--console-port <port>", "serve the web console on 127.0.0.1 at this port, 0 = a free one (env JETFLOW_CONSOLE_PORT)")
    .option("--log-level <level>", "debug, info, warn, error or silent (env JETFLOW_LOG_LEVEL)")
    .action(async (raw: OrchestratorFlags) => {
      // Loaded lazily: the orchestrator pulls in postgres, pino and every adapter, which
      // commands like `runs get` should not pay for.
      const { loadOrchestratorConfig, startOrchestrator } = await import("../../orchestrator/index.js");
      // Flags win over the environment, which wins over the file: passed as the variables they name.
      const env: NodeJS.ProcessEnv = { ...process.env };
      if (raw.workflows !== undefined) env.JETFLOW_WORKFLOWS = resolve(raw.workflows);
      if (raw.databaseUrl !== undefined) env.JETFLOW_DATABASE_URL = raw.databaseUrl;
      if (raw.servers !== undefined) env.JETFLOW_NATS_URL = raw.servers;
      if (raw.creds !== undefined) env.JETFLOW_NATS_CREDS = resolve(raw.creds);
      if (raw.logLevel !== undefined) env.JETFLOW_LOG_LEVEL = raw.logLevel;
      const config = await loadOrchestratorConfig(raw.config, env);
      if (raw.migrate) config.database.migrate = true;
      if (raw.healthPort !== undefined) config.healthPort = portFlag("--health-port", raw.healthPort);
      if (raw.consolePort !== undefined) config.consolePort = portFlag("--console-port", raw.consolePort);
      const orchestrator = await startOrchestrator(config);
      if (orchestrator.consoleUrl) process.stdout.write(`jetflow console listening on ${orchestrator.consoleUrl}\n`);
      await new Promise<void>((resolve) => {
        const onSignal = () => {
          process.off("SIGTERM", onSignal);
          process.off("SIGINT", onSignal);
          void orchestrator.stop().then(resolve, resolve);
        };
        process.on("SIGTERM", onSignal);
        process.on("SIGINT", onSignal);
      });
    });
}
