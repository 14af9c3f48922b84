/**
 * `GET /events`: the live feed as Server-Sent Events (`event: run`, data `{runId, workflowId,
 * type, stageId?}`), optionally only one run's (`?run=<id>`). It sits behind the same access
 * checks as every page. A comment line every 15 s keeps idle proxies from closing the stream.
 *
 * Every open stream holds a socket, a listener on the shared feed and a keepalive timer for as
 * long as the browser keeps it, so the number of streams is bounded: per client address (one
 * client — a runaway script, a browser with hundreds of tabs — cannot take them all) and in
 * total. A stream over either limit is refused with 429 and a reason before it subscribes; the
 * page then stays on its slow fallback poll. Behind a reverse proxy every browser shares the
 * proxy's address, so the per-client limit should then be raised to the total.
 */
import type { Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { LiveEvents, RunEventNotice } from "./live-events.js";

const KEEPALIVE_MS = 15_000;

/** Default bounds on open live streams (see {@link mountLiveRoute}). */
export const LIVE_STREAM_LIMITS = { perClient: 16, total: 256 } as const;

/** Bounds on open `/events` streams. */
export interface LiveStreamLimits {
  /** Streams one client address may hold open at once. */
  perClient: number;
  /** Streams the console holds open at once, over all clients. */
  total: number;
}

/** The peer address of the request's socket (@hono/node-server puts the Node request in `env.incoming`); "unknown" without one (in-process `app.request`). */
function clientAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? "unknown";
}

/** Mounts `/events`; `closeAll()` ends every open stream (the console's stop); `open()` counts them. */
export function mountLiveRoute(
  app: Hono,
  live: LiveEvents,
  limits: LiveStreamLimits = LIVE_STREAM_LIMITS,
): { closeAll(): void; open(): number } {
  const open = new Set<() => void>();
  const perClient = new Map<string, number>();
  app.get("/events", (c) => {
    const client = clientAddress(c);
    const held = perClient.get(client) ?? 0;
    const refuse = (reason: string) => c.text(reason, 429, { "retry-after": "30" });
    if (held >= limits.perClient) {
      return refuse(`too many live streams from this client (${held} open, limit ${limits.perClient}); close some console tabs`);
    }
    if (open.size >= limits.total) {
      return refuse(`too many live streams on this console (${open.size} open, limit ${limits.total}); pages fall back to polling`);
    }
    perClient.set(client, held + 1);
    const only = c.req.query("run") || undefined;
    let queue = Promise.resolve();
    let keepalive: ReturnType<typeof setInterval> | undefined;
    let unsubscribe = (): void => {};
    let finish = (): void => {};
    const closed = new Promise<void>((resolve) => (finish = resolve));
    // Idempotent: a stream ends once whichever comes first — the browser leaving, a failed write, stop().
    const end = () => {
      if (!open.delete(end)) return;
      clearInterval(keepalive);
      unsubscribe();
      const left = (perClient.get(client) ?? 1) - 1;
      if (left > 0) perClient.set(client, left);
      else perClient.delete(client);
      finish();
    };
    // The slot is taken before the response starts, so concurrent requests cannot overshoot the limits.
    open.add(end);
    return streamSSE(c, async (stream) => {
      // A failed write means the browser went away: end this stream (the others are unaffected).
      const send = (write: () => Promise<unknown>) => {
        queue = queue.then(write).then(() => undefined, end);
      };
      stream.onAbort(end);
      if (!open.has(end)) return; // ended (stop()) before the stream started
      unsubscribe = live.subscribe((n: RunEventNotice) => {
        if (!only || n.runId === only) send(() => stream.writeSSE({ event: "run", data: JSON.stringify(n) }));
      });
      keepalive = setInterval(() => send(() => stream.write(": keepalive\n\n")), KEEPALIVE_MS);
      send(() => stream.write("retry: 3000\n: connected\n\n")); // sends the headers now: the browser's EventSource opens
      await closed;
      await queue;
    });
  });
  return {
    closeAll() {
      for (const end of [...open]) end();
    },
    open: () => open.size,
  };
}
