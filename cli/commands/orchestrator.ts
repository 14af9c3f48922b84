import { InvalidArgumentError, type Command } from "commander";

/**
 * `jetflow orchestrator --config <file>`: runs kernel, node host, API service and event sink
 * until SIGTERM/SIGINT, then stops gracefully (in-flight jobs finish) and exits 0.
 */
export function register(program: Command): void {
  program
    .command("orchestrator")
    .description(
      "run an orchestrator: Postgres state, JetStream jobs/events, the NATS API (env: JETFLOW_DATABASE_URL, JETFLOW_NATS_URL, JETFLOW_WORKFLOWS)",
    )
    .option("-c, --config <file>", "JSON config file (see docs/orchestrator.md)")
    .option("--migrate", "apply pending database migrations at start")
    .option("--health-port <port>", "serve GET /healthz on this port (env JETFLOW_HEALTH_PORT)")
    .action(async (raw: { config?: string; migrate?: boolean; healthPort?: string }) => {
      // Loaded lazily: the orchestrator pulls in postgres, pino and every adapter, which
      // commands like `runs get` should not pay for.
      const { loadOrchestratorConfig, startOrchestrator } = await import("../../orchestrator/index.js");
      const config = await loadOrchestratorConfig(raw.config);
      if (raw.migrate) config.database.migrate = true;
      if (raw.healthPort !== undefined) {
        const port = Number(raw.healthPort);
        if (!Number.isInteger(port) || port < 0 || port > 65_535)
          throw new InvalidArgumentError(`--health-port: must be an integer in 0..65535, got "${raw.healthPort}"`);
        config.healthPort = port;
      }
      const orchestrator = await startOrchestrator(config);
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
