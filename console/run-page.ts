/**
 * The run detail page: status and facts, trace link, steering buttons, the stage timeline,
 * errors with the failing attempt, input/output/config, logs (level filter, live tail),
 * annotations, artifacts and the run's AI cost. The live section re-fetches itself when the live feed reports an
 * event of this run (also after it ended: a re-run brings it back), and on a slow fallback poll
 * while it runs; the log tail polls while the run is live (log lines are not events).
 */
import type { Hono } from "hono";
import { html } from "hono/html";
import { z } from "zod";
import type { ApiReply } from "../src/contract/api-messages.js";
import type { ConsoleDeps } from "./deps.js";
import { type Html, duration, errorBox, isTerminal, jsonBlock, layout, liveAttrs, statusBadge, when } from "./html.js";
import { timeline } from "./timeline.js";
import { aiCostSection } from "./ai-costs.js";

type RunView = ApiReply<"runs.get">;
const LEVELS = ["DEBUG", "INFO", "WARN", "ERROR"] as const;
const LOG_LINES = 500;

/** The tracing UI link of a run, when a template is configured and the run has a trace id. */
function traceLink(deps: ConsoleDeps, traceId: string | null | undefined): Html {
  if (!traceId) return html`<span class="muted">—</span>`;
  if (!deps.tracingUrl) return html`<code>${traceId}</code>`;
  const href = deps.tracingUrl.replaceAll("{traceId}", encodeURIComponent(traceId));
  return html`<a href="${href}" target="_blank" rel="noopener" data-trace-id="${traceId}"><code>${traceId}</code></a>`;
}

function facts(deps: ConsoleDeps, view: RunView): Html {
  const { run } = view;
  const end = run.completedAt ? Date.parse(run.completedAt) : Date.now();
  return html`<dl class="facts">
    <dt>status</dt>
    <dd id="run-status">${statusBadge(run.status)}</dd>
    <dt>workflow</dt>
    <dd>${run.workflowId}</dd>
    <dt>created</dt>
    <dd>${when(run.createdAt)}</dd>
    <dt>started</dt>
    <dd>${when(run.startedAt)}</dd>
    <dt>ended</dt>
    <dd>${when(run.completedAt)}</dd>
    <dt>duration</dt>
    <dd>${run.startedAt ? duration(end - Date.parse(run.startedAt)) : "—"}</dd>
    <dt>priority</dt>
    <dd>${run.priority}</dd>
    <dt>trace</dt>
    <dd>${traceLink(deps, run.traceId)}</dd>
  </dl>`;
}

/** Run error, failed stages (with the attempt that failed) and failed remote tasks (with their worker). */
function errors(view: RunView): Html {
  const items: Html[] = [];
  if (view.run.error) items.push(html`<li><strong>run</strong>: ${view.run.error}</li>`);
  for (const s of view.stages.filter((s) => s.error)) {
    items.push(
      html`<li data-error-stage="${s.stageId}">
        <strong>${s.stageId}</strong> failed at attempt ${s.attempt}/${s.maxAttempts}: ${s.error}
      </li>`,
    );
  }
  for (const t of (view.tasks ?? []).filter((t) => t.error)) {
    items.push(html`<li><strong>${t.stageId}</strong> remote attempt ${t.attempt} on worker ${t.workerId ?? "—"}: ${t.error}</li>`);
  }
  return items.length === 0
    ? html``
    : html`<h2>Errors</h2>
        <ul class="errors" id="errors">
          ${items}
        </ul>`;
}

function actions(view: RunView): Html {
  const { run, stages } = view;
  const cancel = isTerminal(run.status)
    ? ""
    : html`<input name="reason" id="cancel-reason" placeholder="reason (optional)" />
        <button
          class="danger"
          id="cancel"
          hx-post="/runs/${run.id}/cancel"
          hx-include="#cancel-reason"
          hx-target="#action-result"
          hx-swap="innerHTML"
          hx-confirm="Cancel run ${run.id}? Its running stages are interrupted."
        >
          Cancel run
        </button>`;
  const rerun =
    stages.length === 0
      ? ""
      : html`<select name="fromStageId" id="rerun-stage">
            ${stages.map((s) => html`<option value="${s.stageId}">${s.stageId}</option>`)}
          </select>
          <button
            id="rerun"
            hx-post="/runs/${run.id}/rerun"
            hx-include="#rerun-stage"
            hx-target="#action-result"
            hx-swap="innerHTML"
            hx-confirm="Re-run ${run.id} from the selected stage? Its output and every later stage are recomputed."
          >
            Re-run from stage
          </button>`;
  return html`<div class="actions">${cancel} ${rerun} <span id="action-result"></span></div>`;
}

/** The part of the page that changes with the run's events. */
function live(deps: ConsoleDeps, view: RunView): Html {
  const { id, status } = view.run;
  const poll = liveAttrs(`/runs/${id}/live`, id, isTerminal(status) ? null : deps.pollMs, "outerHTML");
  return html`<section id="live" data-run-status="${view.run.status}" ${poll}>
    <div class="grid2">${facts(deps, view)}</div>
    <h2>Timeline</h2>
    ${timeline(view, Date.now())} ${errors(view)}
  </section>`;
}

/**
 * Log lines at `level` or above (newest last); polls itself while the run is live. Each poll reads
 * the level from the select, so a poll answered while a level change is in flight cannot bring
 * the old level back for good.
 */
function logs(view: RunView, level: (typeof LEVELS)[number]): Html {
  const min = LEVELS.indexOf(level);
  const lines = (view.logs ?? []).filter((l) => LEVELS.indexOf(l.level) >= min);
  const poll = isTerminal(view.run.status)
    ? ""
    : html`hx-get="/runs/${view.run.id}/logs" hx-include="#log-level" hx-trigger="every 1s" hx-swap="outerHTML"`;
  return html`<div class="logs" id="logs" ${poll}>
    ${lines.length === 0 ? html`<div class="muted">No log lines${min > 0 ? ` at ${level} or above` : ""}.</div>` : ""}
    ${lines.map(
      (l) =>
        html`<div class="mono l-${l.level}" data-level="${l.level}">
          ${l.createdAt.slice(11, 23)} ${l.level.padEnd(5)} [${l.stageId ?? "-"}] ${l.message}
        </div>`,
    )}
  </div>`;
}

function annotations(view: RunView): Html {
  const list = view.annotations ?? [];
  if (list.length === 0) return html`<p class="muted">No annotations.</p>`;
  return html`<table id="annotations">
    <thead>
      <tr>
        <th>key</th>
        <th>value</th>
        <th>stage</th>
        <th>actor</th>
        <th>at</th>
      </tr>
    </thead>
    <tbody>
      ${list.map(
        (a) =>
          html`<tr data-annotation="${a.key}">
            <td class="mono">${a.key}</td>
            <td class="mono">${JSON.stringify(a.value)}</td>
            <td>${a.stageId ?? ""}</td>
            <td>${a.actor.kind}:${a.actor.id}</td>
            <td>${when(a.createdAt)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function artifacts(view: RunView): Html {
  const list = view.artifacts ?? [];
  if (list.length === 0) return html`<p class="muted">No artifacts.</p>`;
  return html`<table id="artifacts">
    <thead>
      <tr>
        <th>key</th>
        <th>stage</th>
        <th>size</th>
        <th>type</th>
        <th>stored</th>
      </tr>
    </thead>
    <tbody>
      ${list.map(
        (a) =>
          html`<tr>
            <td>
              <a class="mono" href="/runs/${view.run.id}/artifact?key=${encodeURIComponent(a.key)}" data-artifact="${a.key}">${a.key}</a>
            </td>
            <td>${a.stageId ?? ""}</td>
            <td>${a.size.toLocaleString("en")} B</td>
            <td>${a.contentType ?? ""}</td>
            <td>${when(a.createdAt)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

const Level = z.enum(LEVELS).catch("DEBUG");

/** Mounts `GET /runs/:id` and its live partials `/runs/:id/live` and `/runs/:id/logs`. */
export function mountRunPage(app: Hono, deps: ConsoleDeps): void {
  const load = (id: string, logLines = 0) =>
    deps.client.getRun({ workflowRunId: id, tasks: true, ...(logLines ? { logs: logLines } : {}), annotations: true, artifacts: true });

  app.get("/runs/:id", async (c) => {
    const id = c.req.param("id");
    const level = Level.parse(c.req.query("level"));
    try {
      const [view, aiCost] = await Promise.all([load(id, LOG_LINES), aiCostSection(deps.client, id)]);
      const levelSelect = html`<select name="level" hx-get="/runs/${id}/logs" hx-target="#logs" hx-swap="outerHTML" id="log-level">
        ${LEVELS.map((l) => html`<option value="${l}" ${l === level ? "selected" : ""}>${l} and above</option>`)}
      </select>`;
      // The buttons stay outside the live section: a refresh must not wipe a reason being typed.
      const body = html`<h1>Run <code>${id}</code></h1>
        ${actions(view)} ${live(deps, view)}
        <h2>Logs ${levelSelect}</h2>
        ${logs(view, level)}
        <div class="grid2">
          <div>
            <h2>Input</h2>
            ${jsonBlock(view.run.input)}
          </div>
          <div>
            <h2>Output</h2>
            ${jsonBlock(view.run.output)}
          </div>
          <div>
            <h2>Config</h2>
            ${jsonBlock(view.run.config)}
          </div>
        </div>
        <h2>Annotations</h2>
        ${annotations(view)}
        <h2>Artifacts</h2>
        ${artifacts(view)} ${aiCost}`;
      return c.html(layout(`Run ${id}`, body, { active: "runs", liveEvents: `/events?run=${encodeURIComponent(id)}` }));
    } catch (err) {
      return c.html(
        layout(
          `Run ${id}`,
          html`<h1>Run <code>${id}</code></h1>
            ${errorBox(err)}`,
          { active: "runs" },
        ),
        404,
      );
    }
  });

  app.get("/runs/:id/live", async (c) => {
    try {
      return c.html(live(deps, await load(c.req.param("id"))));
    } catch (err) {
      return c.html(html`<section id="live">${errorBox(err)}</section>`);
    }
  });

  app.get("/runs/:id/logs", async (c) => {
    try {
      const view = await deps.client.getRun({ workflowRunId: c.req.param("id"), logs: LOG_LINES });
      return c.html(logs(view, Level.parse(c.req.query("level"))));
    } catch (err) {
      return c.html(html`<div class="logs" id="logs">${errorBox(err)}</div>`);
    }
  });
}
