/**
 * The runs list: filters (workflow, status, time range, annotation, idempotency key), keyset
 * paging, counts by status, and a table body and counts that htmx re-fetches when the live feed
 * reports an event of any run (and on a slow fallback poll), so new runs and status changes
 * appear without a reload.
 */
import type { Context, Hono } from "hono";
import { html } from "hono/html";
import { z } from "zod";
import type { ApiReply, ApiRequest } from "../src/contract/api-messages.js";
import type { ConsoleDeps } from "./deps.js";
import { type Html, duration, errorBox, layout, liveAttrs, statusBadge, when } from "./html.js";

const STATUSES = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"] as const;
const PAGE_SIZE = 50;

/** The list's query string; empty fields mean "no filter". */
const RunsQuery = z.object({
  workflow: z.string().trim().optional(),
  status: z.string().trim().optional(),
  from: z.string().trim().optional(),
  to: z.string().trim().optional(),
  key: z.string().trim().optional(),
  value: z.string().trim().optional(),
  idem: z.string().trim().optional(),
  before: z.string().trim().optional(),
  /** The id of the previous page's last run (the keyset's tie-break). */
  beforeId: z.string().trim().optional(),
});
type RunsQuery = z.output<typeof RunsQuery>;

/** A `datetime-local` value (read as UTC) or an ISO instant, as ISO; undefined when empty. */
function instant(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const withZone = /[zZ]|[+-]\d\d:\d\d$/.test(v) ? v : `${v.length === 16 ? `${v}:00` : v}Z`;
  const d = new Date(withZone);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** An annotation value as typed: JSON when it parses (`42`, `true`, `"x"`), else the plain string. */
function annotationValue(v: string | undefined): unknown {
  if (v === undefined || v === "") return undefined;
  try {
    return JSON.parse(v);
  } catch {
    return v; // a bare word is meant as a string value
  }
}

function listRequest(q: RunsQuery): ApiRequest<"runs.list"> {
  const status = STATUSES.find((s) => s === q.status);
  const to = instant(q.to);
  const before = q.before || to;
  return {
    limit: PAGE_SIZE,
    ...(q.workflow ? { workflowId: q.workflow } : {}),
    ...(status ? { status: [status] } : {}),
    ...(instant(q.from) ? { createdAfter: instant(q.from) } : {}),
    ...(before ? { createdBefore: instant(before) } : {}),
    ...(q.before && q.beforeId ? { beforeId: q.beforeId } : {}),
    ...(q.idem ? { idempotencyKey: q.idem } : {}),
    ...(q.key ? { annotationKey: q.key, ...(q.value ? { annotationValue: annotationValue(q.value) } : {}) } : {}),
  };
}

/** The query string of the current filters, with the page cursor (`before` and `beforeId`) replaced (paging) or dropped. */
function queryString(q: RunsQuery, cursor?: { createdAt: string; id: string }): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...q, before: cursor?.createdAt, beforeId: cursor?.id })) if (v) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
}

function rows(runs: ApiReply<"runs.list">["runs"], now: number): Html {
  if (runs.length === 0)
    return html`<tr>
      <td colspan="6" class="muted">No runs match these filters.</td>
    </tr>`;
  return html`${runs.map((r) => {
    const end = r.completedAt ? Date.parse(r.completedAt) : now;
    const took = r.startedAt ? duration(end - Date.parse(r.startedAt)) : "";
    return html`<tr data-run-id="${r.id}">
      <td><a class="mono" href="/runs/${r.id}">${r.id}</a></td>
      <td>${r.workflowId}</td>
      <td>${statusBadge(r.status)}</td>
      <td>${when(r.createdAt)}</td>
      <td>${took}</td>
      <td class="muted">${r.error ? r.error.slice(0, 120) : ""}</td>
    </tr>`;
  })}`;
}

function pager(q: RunsQuery, runs: ApiReply<"runs.list">["runs"]): Html {
  const last = runs.at(-1);
  return html`<div class="pager" id="pager">
    ${q.before ? html`<a href="/runs${queryString(q)}">« newest</a>` : ""}
    ${runs.length === PAGE_SIZE && last ? html`<a href="/runs${queryString(q, last)}" rel="next">older »</a>` : ""}
  </div>`;
}

function filters(q: RunsQuery): Html {
  const opt = (s: string) => html`<option value="${s}" ${q.status === s ? "selected" : ""}>${s || "any"}</option>`;
  return html`<form class="filters" method="get" action="/runs">
    <label>workflow <input name="workflow" value="${q.workflow ?? ""}" placeholder="workflow id" /></label>
    <label
      >status
      <select name="status">
        ${["", ...STATUSES].map(opt)}
      </select></label
    >
    <label>created from (UTC) <input type="datetime-local" name="from" value="${q.from ?? ""}" /></label>
    <label>created to (UTC) <input type="datetime-local" name="to" value="${q.to ?? ""}" /></label>
    <label>annotation key <input name="key" value="${q.key ?? ""}" /></label>
    <label>annotation value <input name="value" value="${q.value ?? ""}" placeholder="JSON or text" /></label>
    <label>idempotency key <input name="idem" value="${q.idem ?? ""}" /></label>
    <button type="submit">Filter</button>
    <a href="/runs">clear</a>
  </form>`;
}

async function counts(deps: ConsoleDeps): Promise<Html> {
  const stats = await deps.client.stats();
  return html`<div class="counts" id="counts" ${liveAttrs("/runs/counts", "*", deps.pollMs, "outerHTML")}>
    ${STATUSES.map((s) => html`<a href="/runs?status=${s}" data-count="${s}">${statusBadge(s)} <strong>${stats.runs[s] ?? 0}</strong></a>`)}
  </div>`;
}

/** Mounts `GET /runs` (the page) and its live partials `GET /runs/rows` (table body) and `GET /runs/counts`. */
export function mountRunsPage(app: Hono, deps: ConsoleDeps): void {
  const read = (c: Context): RunsQuery => RunsQuery.parse(c.req.query());

  app.get("/", (c) => c.redirect("/runs"));

  app.get("/runs", async (c) => {
    const q = read(c);
    let body: Html;
    try {
      const [list, countBar] = await Promise.all([deps.client.listRuns(listRequest(q)), counts(deps)]);
      // Only the first page follows new runs live; an older page stays put while the operator reads it.
      const live = q.before ? "" : liveAttrs(`/runs/rows${queryString(q)}`, "*", deps.pollMs, "innerHTML");
      body = html`<h1>Runs</h1>
        ${countBar} ${filters(q)}
        <table id="runs">
          <thead>
            <tr>
              <th>run</th>
              <th>workflow</th>
              <th>status</th>
              <th>created</th>
              <th>duration</th>
              <th>error</th>
            </tr>
          </thead>
          <tbody id="run-rows" ${live}>
            ${rows(list.runs, Date.now())}
          </tbody>
        </table>
        ${pager(q, list.runs)}`;
    } catch (err) {
      body = html`<h1>Runs</h1>
        ${filters(q)}${errorBox(err)}`;
    }
    return c.html(layout("Runs", body, { active: "runs" }));
  });

  app.get("/runs/counts", async (c) => {
    try {
      return c.html(await counts(deps));
    } catch (err) {
      return c.html(html`<div class="counts" id="counts">${errorBox(err)}</div>`);
    }
  });

  app.get("/runs/rows", async (c) => {
    try {
      const list = await deps.client.listRuns(listRequest(read(c)));
      return c.html(rows(list.runs, Date.now()));
    } catch (err) {
      return c.html(
        html`<tr>
          <td colspan="6">${errorBox(err)}</td>
        </tr>`,
      );
    }
  });
}
