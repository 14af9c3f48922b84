/**
 * Workers and queues: the fleet registry (queue, version, labels, capacity, in-flight, health,
 * last heartbeat) with drain/stop buttons, the backlog per queue, and the remote tasks no live
 * worker can serve, and the dead letters (outbox rows that could not be published). Refreshes
 * itself every few seconds.
 */
import type { Hono } from "hono";
import { html } from "hono/html";
import type { ApiReply } from "../src/contract/api-messages.js";
import { ControlOp } from "../src/contract/fleet.js";
import type { ConsoleDeps } from "./deps.js";
import { type Html, duration, errorBox, layout, when } from "./html.js";

/**
 * Refresh every 3 s, but not while a drain/stop request from a button inside is in flight: htmx
 * drops the answer of a request whose element was swapped out meanwhile.
 */
// (The buttons set hx-swap themselves, or they would inherit the section's outerHTML swap.)
const POLL = "every 3s [!document.querySelector('#fleet .htmx-request')]";

type Worker = ApiReply<"workers.list">["workers"][number];
type Stats = ApiReply<"stats">;
type DeadLetter = ApiReply<"deadLetters.list">["deadLetters"][number];

function deadLetters(list: DeadLetter[]): Html {
  if (list.length === 0) return html`<p class="muted" id="dead-letters">No dead letters.</p>`;
  return html`<table id="dead-letters">
    <thead>
      <tr>
        <th>run</th>
        <th>kind</th>
        <th>type</th>
        <th>attempts</th>
        <th>last error</th>
        <th>dead since</th>
      </tr>
    </thead>
    <tbody>
      ${list.map(
        (d) =>
          html`<tr data-dead-letter="${d.id}">
            <td><a class="mono" href="/runs/${d.workflowRunId}">${d.workflowRunId}</a></td>
            <td>${d.kind}</td>
            <td>${d.type}</td>
            <td>${d.attempts}</td>
            <td>${d.lastError ?? ""}</td>
            <td>${when(d.deadLetteredAt)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function workerRow(w: Worker): Html {
  const labels = Object.entries(w.labels).map(([k, v]) => html`<span class="tag">${k}=${v}</span>`);
  const health = w.healthy ? html`<span class="badge s-completed">healthy</span>` : html`<span class="badge s-failed">stale</span>`;
  const button = (op: "drain" | "stop", text: string, confirm: string) =>
    html`<button
      class="${op === "stop" ? "danger" : ""}"
      data-op="${op}"
      hx-post="/workers/${encodeURIComponent(w.id)}/${op}"
      hx-target="#worker-result"
      hx-swap="innerHTML"
      hx-confirm="${confirm}"
    >
      ${text}
    </button>`;
  return html`<tr data-worker-id="${w.id}" data-worker-status="${w.status}">
    <td class="mono">${w.id}</td>
    <td>${w.queue}</td>
    <td>${w.stageCodeVersion}</td>
    <td>${labels}</td>
    <td>${w.inFlight}/${w.maxConcurrentTasks}</td>
    <td>${w.status}</td>
    <td>${health}</td>
    <td>${when(w.lastHeartbeat)} <span class="muted">(${duration(w.lastSeenMs)} ago)</span></td>
    <td>${w.host}${w.pid ? `:${w.pid}` : ""}</td>
    <td>
      ${button("drain", "Drain", `Drain ${w.id}? It finishes its tasks, pulls nothing new, then stops.`)}
      ${button("stop", "Stop", `Stop ${w.id} now? Its in-flight tasks are aborted and go back to the queue.`)}
    </td>
  </tr>`;
}

function queues(workers: Worker[], stats: Stats): Html {
  const names = new Set([...workers.map((w) => w.queue), ...(stats.unservedTasks ?? []).map((t) => t.queue)]);
  if (names.size === 0) return html`<p class="muted">No queue has a worker or a waiting task.</p>`;
  return html`<table id="queues">
    <thead>
      <tr>
        <th>queue</th>
        <th>live workers</th>
        <th>capacity</th>
        <th>in flight</th>
        <th>tasks no live worker can serve</th>
      </tr>
    </thead>
    <tbody>
      ${[...names].sort().map((q) => {
        const mine = workers.filter((w) => w.queue === q && w.healthy && w.status !== "stopped");
        const unserved = (stats.unservedTasks ?? []).filter((t) => t.queue === q).length;
        return html`<tr data-queue="${q}">
          <td>${q}</td>
          <td>${mine.length}</td>
          <td>${mine.reduce((n, w) => n + w.maxConcurrentTasks, 0)}</td>
          <td>${mine.reduce((n, w) => n + w.inFlight, 0)}</td>
          <td>${unserved}</td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}

function unserved(stats: Stats): Html {
  const list = stats.unservedTasks ?? [];
  if (list.length === 0) return html`<p class="muted" id="unserved">Every waiting remote task has a live worker that can serve it.</p>`;
  return html`<table id="unserved">
    <thead>
      <tr>
        <th>run</th>
        <th>stage</th>
        <th>queue</th>
        <th>version</th>
        <th>labels</th>
        <th>waiting</th>
        <th>why</th>
      </tr>
    </thead>
    <tbody>
      ${list.map(
        (t) =>
          html`<tr>
            <td><a class="mono" href="/runs/${t.workflowRunId}">${t.workflowRunId}</a></td>
            <td>${t.stageId}</td>
            <td>${t.queue}</td>
            <td>${t.codeVersion}</td>
            <td>${Object.entries(t.requiredLabels).map(([k, v]) => html`<span class="tag">${k}=${v}</span>`)}</td>
            <td>${duration(t.waitingMs)}</td>
            <td>${t.reason}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

async function content(deps: ConsoleDeps): Promise<Html> {
  try {
    const [{ workers }, stats, dead] = await Promise.all([
      deps.client.listWorkers(),
      deps.client.stats(),
      deps.client.deadLetters({ limit: 100 }),
    ]);
    const sorted = [...workers].sort((a, b) => a.queue.localeCompare(b.queue) || a.id.localeCompare(b.id));
    return html`<section id="fleet" hx-get="/workers/fleet" hx-trigger="${POLL}" hx-swap="outerHTML">
      <h2>Workers</h2>
      ${
        sorted.length === 0
          ? html`<p class="muted">No worker is registered.</p>`
          : html`<table id="workers">
              <thead>
                <tr>
                  <th>worker</th>
                  <th>queue</th>
                  <th>version</th>
                  <th>labels</th>
                  <th>in flight</th>
                  <th>state</th>
                  <th>health</th>
                  <th>last heartbeat</th>
                  <th>host</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>
                ${sorted.map(workerRow)}
              </tbody>
            </table>`
      }
      <h2>Queues</h2>
      <p>Jobs waiting for an orchestrator: <strong id="jobs-queued">${stats.jobsQueued ?? "unknown"}</strong></p>
      ${queues(workers, stats)}
      <h2>Tasks no live worker can serve</h2>
      ${unserved(stats)}
      <h2>Dead letters</h2>
      <p class="muted">Run events and jobs the orchestrators could not publish after every retry.</p>
      ${deadLetters(dead.deadLetters)}
    </section>`;
  } catch (err) {
    return html`<section id="fleet">${errorBox(err)}</section>`;
  }
}

/** Mounts `GET /workers`, its live partial `/workers/fleet` and `POST /workers/:id/(drain|stop)`. */
export function mountWorkersPage(app: Hono, deps: ConsoleDeps): void {
  app.get("/workers", async (c) =>
    c.html(
      layout(
        "Workers & queues",
        html`<h1>Workers & queues</h1>
          <div id="worker-result"></div>
          ${await content(deps)}`,
        { active: "workers" },
      ),
    ),
  );
  app.get("/workers/fleet", async (c) => c.html(await content(deps)));
  app.post("/workers/:id/:op", async (c) => {
    const op = ControlOp.safeParse(c.req.param("op"));
    if (!op.success || op.data === "status") return c.html(errorBox(new Error("unknown worker operation")), 404);
    try {
      const reply = await deps.workerControl(c.req.param("id"), op.data);
      return c.html(
        html`<span role="status" data-accepted="${String(reply.accepted)}"
          >${c.req.param("id")}: ${op.data} ${reply.accepted ? "accepted" : `refused${reply.reason ? `: ${reply.reason}` : ""}`}</span
        >`,
      );
    } catch (err) {
      return c.html(errorBox(err));
    }
  });
}
