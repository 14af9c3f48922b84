/**
 * Steering a run from the console: cancel, re-run from a stage, download an artifact. Each goes
 * through the API with its usual validation; cancel and re-run carry the console's actor, so the
 * API records them as the run's `jetflow.action` annotation.
 */
import type { Context, Hono } from "hono";
import { html } from "hono/html";
import type { ConsoleDeps } from "./deps.js";
import { errorBox } from "./html.js";

/** An htmx answer: the outcome in the result slot, then a refresh so the page shows the new state. */
function done(c: Context, message: string) {
  c.header("HX-Refresh", "true");
  return c.html(html`<span class="ok" role="status">${message}</span>`);
}

/** Mounts `POST /runs/:id/cancel`, `POST /runs/:id/rerun` and `GET /runs/:id/artifact?key=`. */
export function mountRunActions(app: Hono, deps: ConsoleDeps): void {
  app.post("/runs/:id/cancel", async (c) => {
    const form = await c.req.parseBody();
    const reason = typeof form.reason === "string" && form.reason.trim() ? form.reason.trim() : undefined;
    try {
      const r = await deps.client.cancelRun({ workflowRunId: c.req.param("id"), actor: deps.actor, ...(reason ? { reason } : {}) });
      return done(c, r.cancelled ? "cancelled" : `not cancelled: the run is ${r.status}`);
    } catch (err) {
      return c.html(errorBox(err)); // 200: htmx swaps only successful answers into the page
    }
  });

  app.post("/runs/:id/rerun", async (c) => {
    const form = await c.req.parseBody();
    const fromStageId = typeof form.fromStageId === "string" ? form.fromStageId : "";
    try {
      const r = await deps.client.rerun({ workflowRunId: c.req.param("id"), fromStageId, actor: deps.actor });
      return done(c, `re-running from ${r.fromStageId} (${r.resetStageIds.length} stages reset)`);
    } catch (err) {
      return c.html(errorBox(err));
    }
  });

  // A redirect to a short-lived presigned URL: the browser downloads straight from the object store.
  app.get("/runs/:id/artifact", async (c) => {
    try {
      const signed = await deps.client.artifactUrl({ workflowRunId: c.req.param("id"), key: c.req.query("key") ?? "" });
      return c.redirect(signed.url, 302);
    } catch (err) {
      return c.html(errorBox(err), 404);
    }
  });
}
