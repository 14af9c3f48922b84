/**
 * Entry of the worker package's executables: `jetflow-worker` runs a worker, and
 * `jetflow-worker-service` a worker service. The full jetflow CLI hands `jetflow worker` and
 * `jetflow worker-service serve` here, so both packages parse the same flags the same way.
 */
import { WorkerError } from "../errors.js";
import { fromStoreHelp, isFromStore, parseFromStoreArgs } from "./from-store.js";
import { parseServiceArgs, runWorkerService, serviceHelp } from "./service-command.js";
import { parseWorkerArgs, workerHelp } from "./worker-command.js";

/** Something to run around the command, e.g. the OpenTelemetry SDK the full CLI starts. */
export interface CliHooks {
  /** Called once the flags are valid, before connecting; its result is shut down on exit. */
  startTelemetry?: (serviceName: string) => Promise<{ shutdown(): Promise<void> } | null>;
  /** Where help and errors go. Default: stdout and stderr. */
  out?: (text: string) => void;
  err?: (text: string) => void;
}

/** Which process to run. */
export type WorkerCommand = "worker" | "worker-service";

/**
 * Runs `command` with `argv` (the arguments after the command name) and resolves with the exit
 * code: 0 after a drain, 1 on a bad flag (one line naming it), a failure to start, or a lost
 * connection. Never calls process.exit.
 */
export async function runWorkerCli(command: WorkerCommand, argv: readonly string[], hooks: CliHooks = {}): Promise<number> {
  const out = hooks.out ?? ((t: string) => process.stdout.write(t));
  const err = hooks.err ?? ((t: string) => process.stderr.write(t));
  let telemetry: { shutdown(): Promise<void> } | null = null;
  try {
    if (command === "worker" && isFromStore(argv)) {
      // The activity module comes from `jetflow deploy`'s signed bundle store (docs/deploy.md).
      const parsed = parseFromStoreArgs(argv);
      if (parsed.help) {
        out(fromStoreHelp());
        return 0;
      }
      telemetry = (await hooks.startTelemetry?.("jetflow-worker")) ?? null;
      const { runWorkerFromStore } = await import("./run-from-store.js");
      return await runWorkerFromStore(parsed.options);
    }
    if (command === "worker") {
      const parsed = parseWorkerArgs(argv);
      if (parsed.help) {
        out(workerHelp());
        return 0;
      }
      telemetry = (await hooks.startTelemetry?.("jetflow-worker")) ?? null;
      // Loaded once the flags are valid: `--help` and a bad flag need no NATS client.
      const { runWorker } = await import("./run-worker.js");
      return await runWorker(parsed.options);
    }
    const parsed = parseServiceArgs(argv);
    if (parsed.help) {
      out(serviceHelp());
      return 0;
    }
    telemetry = (await hooks.startTelemetry?.("jetflow-worker-service")) ?? null;
    return await runWorkerService(parsed.options);
  } catch (e) {
    const code = e instanceof WorkerError ? ` ${e.code}` : "";
    err(`error${code}: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.JETFLOW_DEBUG && e instanceof Error && e.stack) err(`${e.stack}\n`);
    return 1;
  } finally {
    await telemetry?.shutdown();
  }
}
