import type { Command } from "commander";
import { telemetryRequested } from "../../otel/env.js";

/**
 * Registers a command whose flags the worker package parses (`jetflow worker` =
 * `jetflow-worker`): commander only routes; the arguments go through untouched, so a flag means
 * the same from both packages. With OTEL_* set, the full CLI starts the OpenTelemetry SDK.
 */
export function registerPassThrough(parent: Command, name: string, description: string, command: "worker" | "worker-service"): void {
  parent
    .command(name)
    .description(description)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[flags...]")
    .action(async (flags: string[]) => {
      const { runWorkerCli } = await import("../../worker-sdk/cli/main.js");
      process.exitCode = await runWorkerCli(command, flags, {
        startTelemetry: async (serviceName) => {
          if (!telemetryRequested()) return null;
          const { startTelemetry } = await import("../../otel/start.js");
          return startTelemetry({ serviceName });
        },
      });
    });
}

/**
 * `jetflow worker --queue q --code-version v --module ./activities.js`: runs remote activities
 * with the worker SDK only (no Postgres, no S3 credentials: artifacts move by presigned URL).
 * SIGTERM/SIGINT drains (in-flight tasks finish and report); a second signal aborts them.
 */
export function register(program: Command): void {
  registerPassThrough(
    program,
    "worker",
    "run remote activities of one queue and code version (`jetflow worker --help` lists the flags)",
    "worker",
  );
}
