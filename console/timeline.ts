/**
 * The stage timeline of a run: a Gantt chart with one lane per stage, lanes grouped by execution
 * group (stages of one group are parallel branches), bars from start to end (or now) coloured by
 * status, suspended stages hatched, and for remote stages the queue, attempt, the worker that
 * holds (or held) the current attempt and every started attempt with its worker.
 */
import { html } from "hono/html";
import type { ApiReply } from "../src/contract/api-messages.js";
import { startedAttempts } from "../src/ports/activity-task-store.js";
import { type Html, duration, statusBadge } from "./html.js";

type RunView = ApiReply<"runs.get">;
type Stage = RunView["stages"][number];
type Task = NonNullable<RunView["tasks"]>[number];
type Wait = NonNullable<RunView["waiting"]>[number];

/** Why a stage waits (rate limit, concurrency key, round-robin turn; for a remote task, no worker, lower priority, busy workers), next to its status. */
function waitTag(wait: Wait | undefined): Html {
  return wait
    ? html`<span class="tag waiting" data-waiting="${wait.reason}" title="waiting since ${wait.since}">waiting · ${wait.detail}</span>`
    : html``;
}

/** The lane label: stage, status, attempt, and where it runs (local, or remote with queue and worker). */
function label(stage: Stage, task: Task | undefined, wait: Wait | undefined): Html {
  const where = task
    ? html`<span class="tag remote" data-remote="${task.queue}">remote · ${task.queue}</span>
        <span class="tag" data-worker="${task.workerId ?? ""}">worker ${task.workerId ?? "—"}</span>
        <span class="tag" data-task-status="${task.status}">task ${task.status.toLowerCase()}</span>`
    : html`<span class="tag">local</span>`;
  return html`<div class="label" title="${stage.stageName}">
    <strong>${stage.stageId}</strong> ${statusBadge(stage.status)}
    <span class="muted">attempt ${task ? startedAttempts(task) : stage.attempt}/${task?.maxAttempts ?? stage.maxAttempts}</span> ${where}
    ${waitTag(wait)} ${attempts(task)}
  </div>`;
}

/** Every started attempt of a remote stage with its worker and start time, oldest first. */
function attempts(task: Task | undefined): Html {
  const list = task?.attempts ?? [];
  if (list.length === 0) return html``;
  return html`<div class="attempts muted">
    ${list.map(
      (a) =>
        html`<span class="tag" data-attempt="${a.attempt}" data-attempt-worker="${a.workerId}" title="${a.startedAt}"
          >#${a.attempt} ${a.workerId} ${a.startedAt.slice(11, 19)}</span
        >`,
    )}
  </div>`;
}

/** Renders the chart; `now` closes the bars of stages still running. */
export function timeline(view: RunView, now: number): Html {
  const { run, stages } = view;
  const tasks = new Map<string, Task>();
  // The newest task of a stage is the one to show (a rerun creates a new one).
  for (const t of view.tasks ?? []) {
    const prev = tasks.get(t.stageId);
    if (!prev || prev.createdAt < t.createdAt) tasks.set(t.stageId, t);
  }
  const start = Date.parse(run.startedAt ?? run.createdAt);
  const endOf = (s: Stage) => (s.completedAt ? Date.parse(s.completedAt) : s.startedAt ? now : Date.parse(s.startedAt ?? run.createdAt));
  const end = Math.max(start + 1, run.completedAt ? Date.parse(run.completedAt) : now, ...stages.map(endOf));
  const span = end - start;
  const pct = (t: number) => Math.max(0, Math.min(100, ((t - start) / span) * 100));

  const groups = new Map<number, Stage[]>();
  for (const s of stages) groups.set(s.groupIndex, [...(groups.get(s.groupIndex) ?? []), s]);

  const lanes = [...groups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([group, members]) => {
      const parallel = members.length > 1 ? ` · ${members.length} parallel branches` : "";
      return html`<div class="group">group ${group}${parallel}</div>
        ${members.map((s) => {
          const from = s.startedAt ? Date.parse(s.startedAt) : null;
          const bar =
            from === null
              ? html`<div class="bar s-pending" style="left:0;width:100%" title="not started"></div>`
              : html`<div
                  class="bar s-${s.status.toLowerCase()}"
                  style="left:${pct(from).toFixed(2)}%;width:${Math.max(0.3, pct(endOf(s)) - pct(from)).toFixed(2)}%"
                  title="${s.stageId}: ${duration(endOf(s) - from)}${s.status === "SUSPENDED" ? " (suspended, waiting)" : ""}"
                ></div>`;
          return html`<div class="row" data-stage="${s.stageId}">
            ${label(
              s,
              tasks.get(s.stageId),
              view.waiting?.find((w) => w.stageId === s.stageId),
            )}
            <div class="track">${bar}</div>
          </div>`;
        })}`;
    });

  return html`<div class="gantt" id="timeline">
    ${stages.length === 0 ? html`<div class="muted">No stage has been scheduled yet.</div>` : lanes}
    <div class="axis"><span>0</span><span>${duration(span)}</span></div>
  </div>`;
}
