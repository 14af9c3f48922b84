import type { Command } from "commander";

/**
 * `jetflow orchestrator --config <file>`: runs kernel, node host, API service and event sink
 * until SIGTERM/SIGINT, then stops gracefully (in-flight jobs finish) and exits 0.
 */
export function register(program: Command): void {
  program
    .command("orchestrator")
    .description("run an orchestrator: Postgres state, JetStream jobs/events, the NATS API (env: JETFLOW_DATABASE_URL, JETFLOW_NATS_URL, JETFLOW_WORKFLOWS)")
    .option("-c, --config <file>", "JSON config file (see docs/orchestrator.md)")
    .option("--migrate", "apply pending database migrations at start")
    .action(async (raw: { config?: string; migrate?: boolean }) => {
      // Loaded lazily: the orchestrator pulls in postgres, pino and every adapter, which
      // commands like `runs get` should not pay for.
      const { loadOrchestratorConfig } = await import("../orchestrator/config.js");
      const { startOrchestrator } = await import("../orchestrator/start.js");
      const config = await loadOrchestratorConfig(raw.config);
      if (raw.migrate) config.database.migrate = true;
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
