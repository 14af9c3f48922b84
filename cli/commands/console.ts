/**
 * `jetflow console`: serves the web console (console/) until SIGTERM/SIGINT. It talks to the
 * orchestrators only through the NATS API, so it needs NATS credentials and nothing else.
 */
import type { Command } from "commander";
import { userInfo } from "node:os";
import { z } from "zod";
import { startConsole } from "../../console/server.js";
import { ConnectionOptions, openConnection, withConnectionFlags } from "../shared/connection.js";
import { parseOptions } from "../shared/parse-options.js";

const Options = z.object({
  host: z.string().min(1).default("127.0.0.1"),
  port: z.coerce.number().int().min(0).max(65535).default(4280),
  token: z
    .string()
    .optional()
    .transform((v) => v || process.env.JETFLOW_CONSOLE_TOKEN || undefined),
  actor: z.string().min(1).optional(),
  maxLiveStreams: z.coerce.number().int().positive().optional(),
  maxLiveStreamsPerClient: z.coerce.number().int().positive().optional(),
  tracingUrl: z
    .string()
    .optional()
    .transform((v) => v || process.env.JETFLOW_CONSOLE_TRACING_URL || undefined),
});

/** The OS user name, as the default actor of steering actions; "console" when it cannot be read. */
function defaultActor(): string {
  try {
    return `console:${userInfo().username}`;
  } catch {
    return "console"; // no passwd entry (some containers): the actor is still recorded, just unnamed
  }
}

/** Registers `jetflow console`. */
export function register(program: Command): void {
  withConnectionFlags(
    program
      .command("console")
      .description("serve the web console: runs, run detail and steering, workers and queues (docs/console.md)")
      .option("--host <address>", "address to bind; anything but loopback requires --token", "127.0.0.1")
      .option("--port <port>", "port to listen on (0 picks a free one)", "4280")
      .option("--token <token>", "access token, at least 16 characters (env JETFLOW_CONSOLE_TOKEN)")
      .option("--actor <id>", "actor recorded on cancel/re-run annotations (default console:<os user>)")
      .option("--tracing-url <template>", "tracing UI link with {traceId}, e.g. http://localhost:16686/trace/{traceId}")
      .option("--max-live-streams <n>", "live-update streams held open over all clients; more get 429 (default 256)")
      .option("--max-live-streams-per-client <n>", "live-update streams one client address may hold open; more get 429 (default 16)"),
  ).action(async (raw: Record<string, unknown>) => {
    const o = parseOptions(Options, raw);
    const conn = parseOptions(ConnectionOptions, raw);
    const { destination, pino } = await import("pino"); // lazily, like the orchestrator: other commands do not pay for it
    const nc = await openConnection(conn, "jetflow-console");
    try {
      const server = await startConsole(
        nc,
        {
          host: o.host,
          port: o.port,
          prefix: conn.prefix,
          timeoutMs: conn.timeout,
          actor: o.actor ?? defaultActor(),
          ...(o.token ? { token: o.token } : {}),
          ...(o.tracingUrl ? { tracingUrl: o.tracingUrl } : {}),
          ...(o.maxLiveStreams ? { maxLiveStreams: o.maxLiveStreams } : {}),
          ...(o.maxLiveStreamsPerClient ? { maxLiveStreamsPerClient: o.maxLiveStreamsPerClient } : {}),
        },
        // Warnings only (e.g. the live event feed failing and retrying), as JSON lines on stderr.
        { logger: pino({ level: "warn", base: { service: "jetflow-console" } }, destination(2)) },
      );
      process.stdout.write(`jetflow console listening on ${server.url}\n`);
      await new Promise<void>((resolve) => {
        const onSignal = () => {
          process.off("SIGTERM", onSignal);
          process.off("SIGINT", onSignal);
          resolve();
        };
        process.on("SIGTERM", onSignal);
        process.on("SIGINT", onSignal);
      });
      await server.stop();
    } finally {
      await nc.close();
    }
  });
}
