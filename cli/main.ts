/**
 * The `jetflow` command: builds the commander program, registers every subcommand from
 * ./commands/index.ts and turns failures into one clear line on stderr plus a non-zero exit
 * code. Run through bin/jetflow.js; importing this module has no side effects.
 */
import { Command, CommanderError } from "commander";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { registerCommands } from "./commands/index.js";
import { telemetryRequested } from "../otel/env.js";

/**
 * The package version. Looked up by walking up from this file, because the same code runs
 * from `cli/main.ts` (source) and `dist/cli/main.js` (built), at different depths.
 */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "package.json");
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "jetflow" && pkg.version) return pkg.version;
    }
    dir = dirname(dir);
  }
  throw new Error("cannot find jetflow's package.json to read the version from");
}

/**
 * The program, with every command registered, or only `command` when given (what `main` runs).
 * Exits are reported, not performed.
 */
export async function buildProgram(command?: string): Promise<Command> {
  const program = new Command("jetflow")
    .description("Durable workflows on NATS JetStream and Postgres: submit and follow runs, run orchestrators, manage the schema.")
    .version(packageVersion(), "-V, --version", "print the jetflow version")
    .showHelpAfterError("(run with --help for usage)")
    .showSuggestionAfterError(true)
    .exitOverride();
  // Registered after exitOverride(): commander copies it into every subcommand, so their
  // parse errors reach main() as well instead of calling process.exit() mid-flight.
  await registerCommands(program, command);
  return program;
}

function hasCode(err: unknown): err is Error & { code: string } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === "string";
}

/**
 * Runs the CLI on `argv` (process.argv layout) and resolves to the exit code. Commander has
 * already printed its own usage errors; everything else becomes `error[ CODE]: message`
 * (with the stack when JETFLOW_DEBUG is set).
 */
export async function main(argv: string[] = process.argv): Promise<number> {
  // argv[2] is the command, unless it is a root option (--help, -V) or missing.
  const program = await buildProgram(argv[2]);
  const telemetry = await startTelemetryIfRequested(argv);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0 and their output already written.
      if (err.code === "commander.invalidArgument" && !err.message.startsWith("error:")) {
        process.stderr.write(`error: ${err.message}\n`);
      }
      return err.exitCode;
    }
    const code = hasCode(err) && /^[A-Z_]+$/.test(err.code) ? ` ${err.code}` : "";
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`error${code}: ${message}\n`);
    if (process.env.JETFLOW_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  } finally {
    // Bounded: an unreachable collector may cost the last spans, never the user's time.
    if (telemetry) await flushWithin(telemetry, TELEMETRY_FLUSH_MS);
  }
}

/** How long the CLI waits for telemetry to flush at exit (bin/jetflow.js exits soon after). */
const TELEMETRY_FLUSH_MS = 700;

async function flushWithin(telemetry: { shutdown(): Promise<void> }, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      process.stderr.write(`warning: telemetry not flushed within ${ms} ms (is the OTLP collector reachable?)\n`);
      resolve();
    }, ms);
  });
  await Promise.race([telemetry.shutdown(), late]);
  clearTimeout(timer);
}

/** Service name per command, so an orchestrator, a worker and a CLI call show up as separate services. */
const SERVICE_BY_COMMAND: Record<string, string> = {
  orchestrator: "jetflow-orchestrator",
  worker: "jetflow-worker",
  "worker-service": "jetflow-worker-service",
};

/**
 * Starts the OpenTelemetry SDK when the standard OTEL_* variables ask for it (docs/observability.md).
 * Imported lazily: without OTEL configuration the CLI never loads the SDK.
 */
async function startTelemetryIfRequested(argv: string[]): Promise<{ shutdown(): Promise<void> } | null> {
  if (!telemetryRequested()) return null;
  const { startTelemetry } = await import("../otel/start.js");
  const command = argv[2] ?? "";
  return startTelemetry({ serviceName: SERVICE_BY_COMMAND[command] ?? "jetflow-cli", serviceVersion: packageVersion() });
}
