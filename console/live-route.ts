/**
 * `GET /events`: the live feed as Server-Sent Events (`event: run`, data `{runId, workflowId,
 * type, stageId?}`), optionally only one run's (`?run=<id>`). It sits behind the same access
 * checks as every page. A comment line every 15 s keeps idle proxies from closing the stream.
 */
import type { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { LiveEvents, RunEventNotice } from "./live-events.js";

const KEEPALIVE_MS = 15_000;

/** Mounts `/events`; `closeAll()` ends every open stream (the console's stop). */
export function mountLiveRoute(app: Hono, live: LiveEvents): { closeAll(): void } {
  const open = new Set<() => void>();
  app.get("/events", (c) => {
    const only = c.req.query("run") || undefined;
    return streamSSE(c, async (stream) => {
      let queue = Promise.resolve();
      let keepalive: ReturnType<typeof setInterval> | undefined;
      let unsubscribe = (): void => {};
      let finish = (): void => {};
      const closed = new Promise<void>((resolve) => (finish = resolve));
      const end = () => {
        clearInterval(keepalive);
        unsubscribe();
        open.delete(end);
        finish();
      };
      // A failed write means the browser went away: end this stream (the others are unaffected).
      const send = (write: () => Promise<unknown>) => {
        queue = queue.then(write).then(() => undefined, end);
      };
      open.add(end);
      stream.onAbort(end);
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
  };
}
