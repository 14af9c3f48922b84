/**
 * The jetflow web console as a library: a Hono app rendering HTML on the server (htmx for the
 * live parts, refreshed by events from the events stream pushed as Server-Sent Events), reading and steering only through the NATS API. `jetflow console` starts it.
 */
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { createJetflowClient } from "../adapters/jetstream/api/client.js";
import { sendWorkerControl } from "../adapters/jetstream/fleet/control.js";
import { ValidationError } from "../src/contract/errors.js";
import { identifier } from "../src/contract/storable.js";
import { parseOptions } from "../src/contract/options.js";
import { createTopology } from "../src/contract/topology.js";
import { silentLogger, type Logger } from "../src/ports/logger.js";
import { isLoopback, mountAccess } from "./access.js";
import { mountAssets } from "./assets.js";
import type { ConsoleDeps } from "./deps.js";
import { startLiveEvents, type LiveEvents } from "./live-events.js";
import { LIVE_STREAM_LIMITS, mountLiveRoute, type LiveStreamLimits } from "./live-route.js";
import { mountRunActions } from "./run-actions.js";
import { mountRunPage } from "./run-page.js";
import { mountRunsPage } from "./runs-page.js";
import { mountWorkersPage } from "./workers-page.js";

/** Defaults of {@link startConsole}. */
export const CONSOLE_DEFAULTS = {
  host: "127.0.0.1",
  port: 4280,
  prefix: "jetflow",
  timeoutMs: 10_000,
  actor: "console",
  pollMs: 30_000,
} as const;

const ConsoleOptions = z
  .object({
    host: z.string().min(1).default(CONSOLE_DEFAULTS.host),
    /** 0 picks a free port (see `url` of the result). */
    port: z.number().int().min(0).max(65535).default(CONSOLE_DEFAULTS.port),
    /** Required when `host` is not a loopback address. */
    token: z.string().min(16, "a console token needs at least 16 characters").optional(),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default(CONSOLE_DEFAULTS.prefix),
    timeoutMs: z.number().int().positive().default(CONSOLE_DEFAULTS.timeoutMs),
    /** Id recorded as the `user` actor of the console's steering actions. */
    actor: identifier(200).default(CONSOLE_DEFAULTS.actor),
    /** Fallback poll of the live sections; live events from the events stream normally refresh them at once. */
    pollMs: z.number().int().min(500).default(CONSOLE_DEFAULTS.pollMs),
    /** Live-update streams (Server-Sent Events) one client address may hold open; more get 429. */
    maxLiveStreamsPerClient: z.number().int().positive().default(LIVE_STREAM_LIMITS.perClient),
    /** Live-update streams the console holds open over all clients; more get 429. */
    maxLiveStreams: z.number().int().positive().default(LIVE_STREAM_LIMITS.total),
    /** Tracing UI link; `{traceId}` is replaced, e.g. `http://localhost:16686/trace/{traceId}`. */
    tracingUrl: z.string().url().includes("{traceId}", { message: "must contain {traceId}" }).optional(),
  })
  .strict();
/** Options of {@link startConsole}. */
export type ConsoleOptions = z.input<typeof ConsoleOptions>;

/** A running console; `stop()` closes the HTTP server (the NATS connection stays the caller's). */
export interface ConsoleServer {
  /** Base URL, e.g. `http://127.0.0.1:4280`. */
  readonly url: string;
  stop(): Promise<void>;
}

/** Builds the console's routes on `deps` (exposed for tests that need no socket); `limits` bound the open live streams. */
export function createConsoleApp(
  deps: ConsoleDeps,
  access: { token?: string; loopbackOnly: boolean },
  live: LiveEvents,
  limits: LiveStreamLimits = LIVE_STREAM_LIMITS,
): { app: Hono; closeStreams(): void } {
  const app = new Hono();
  mountAssets(app);
  mountAccess(app, access);
  const events = mountLiveRoute(app, live, limits);
  mountRunsPage(app, deps);
  mountRunPage(app, deps);
  mountRunActions(app, deps);
  mountWorkersPage(app, deps);
  return { app, closeStreams: () => events.closeAll() };
}

/**
 * Starts the console on an open NATS connection (the caller closes it after `stop()`).
 * `runtime.logger` hears about the live event feed failing and retrying (default: silent).
 * @throws ValidationError for a misspelt option, or a non-loopback `host` without a `token`.
 */
export async function startConsole(
  nc: NatsConnection,
  options: ConsoleOptions = {},
  runtime: { logger?: Logger } = {},
): Promise<ConsoleServer> {
  const o = parseOptions("console", ConsoleOptions, options);
  const loopbackOnly = isLoopback(o.host);
  if (!loopbackOnly && !o.token) {
    throw new ValidationError("the console is bound beyond this machine", [
      { path: "token", message: `required when host is ${o.host} (not a loopback address); set --token or JETFLOW_CONSOLE_TOKEN` },
    ]);
  }
  const deps: ConsoleDeps = {
    client: createJetflowClient(nc, { prefix: o.prefix, timeoutMs: o.timeoutMs }),
    workerControl: (workerId, op) => sendWorkerControl(nc, workerId, op, { prefix: o.prefix, timeoutMs: Math.min(o.timeoutMs, 5_000) }),
    actor: { kind: "user", id: o.actor },
    ...(o.tracingUrl ? { tracingUrl: o.tracingUrl } : {}),
    pollMs: o.pollMs,
  };
  const live = startLiveEvents(nc, { topology: createTopology({ prefix: o.prefix }), logger: runtime.logger ?? silentLogger });
  const { app, closeStreams } = createConsoleApp(deps, { ...(o.token ? { token: o.token } : {}), loopbackOnly }, live, {
    perClient: o.maxLiveStreamsPerClient,
    total: o.maxLiveStreams,
  });
  let server: ServerType;
  try {
    server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: o.host, port: o.port }, () => resolve(s));
      s.once("error", reject);
    });
  } catch (err) {
    await live.stop();
    throw err;
  }
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : o.port;
  const shownHost = o.host.includes(":") ? `[${o.host}]` : o.host;
  return {
    url: `http://${shownHost}:${port}`,
    stop: async () => {
      closeStreams();
      await live.stop();
      await new Promise<void>((resolve, reject) => {
        // closeAllConnections: htmx polling and event streams keep sockets alive, which would hold close() open.
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close((err) => (err ? reject(err) : resolve()));
      });
    },
  };
}
