/**
 * Shared page pieces of the console: the layout (navigation, styles, htmx), status badges and
 * small formatters. Every value goes through hono's `html` template, which escapes it: run
 * inputs, errors and log lines are user data and must never become markup.
 */
import { html } from "hono/html";

/** Rendered, escaped HTML (hono's `html` result). */
export type Html = ReturnType<typeof html>;

/** A full page: `title` in the tab, `body` under the navigation; `liveEvents` narrows the live feed (default every run). */
export function layout(title: string, body: Html, opts: { active?: "runs" | "workers"; liveEvents?: string } = {}): Html {
  const nav = (href: string, label: string, key: "runs" | "workers") =>
    html`<a href="${href}" class="${opts.active === key ? "active" : ""}">${label}</a>`;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · jetflow</title>
        <link rel="stylesheet" href="/assets/console.css" />
        <script src="/assets/htmx.min.js" defer></script>
        <script src="/assets/live.js" defer></script>
      </head>
      <body hx-headers='{"X-Jetflow-Console": "1"}' data-live-events="${opts.liveEvents ?? "/events"}">
        <header>
          <strong class="brand">jetflow</strong>
          <nav>${nav("/runs", "Runs", "runs")} ${nav("/workers", "Workers & queues", "workers")}</nav>
        </header>
        <main>${body}</main>
      </body>
    </html>`;
}

const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

/** True for a run or stage status that will not change by itself. */
export function isTerminal(status: string): boolean {
  return TERMINAL.has(status);
}

/** A coloured status label (`data-status` lets tests and styles find it). */
export function statusBadge(status: string): Html {
  return html`<span class="badge s-${status.toLowerCase()}" data-status="${status}">${status}</span>`;
}

/** An ISO instant shown as `YYYY-MM-DD HH:MM:SS` UTC (the full value in the tooltip). */
export function when(iso: string | null | undefined): Html {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}" title="${iso}">${iso.slice(0, 19).replace("T", " ")}</time>`;
}

/** A duration in ms as `1.2 s`, `3 m 04 s`, `2 h 05 m`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} m`;
}

/** Pretty JSON in a <pre> block. */
export function jsonBlock(value: unknown): Html {
  return html`<pre class="json">${value === undefined ? "" : JSON.stringify(value, null, 2)}</pre>`;
}

/** An error box for a failed API call, shown in place of the page content. */
export function errorBox(err: unknown): Html {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : "ERROR";
  return html`<div class="error-box" role="alert"><strong>${code}</strong> ${String(e.message ?? err)}</div>`;
}

/** htmx attributes of a section refreshed from `url` on a live event for `runId` (`*`: any run), and every `pollMs` as a fallback (null: events only). */
export function liveAttrs(url: string, runId: string, pollMs: number | null, swap: "innerHTML" | "outerHTML"): Html {
  const trigger = pollMs === null ? "jetflow-event" : `jetflow-event, every ${Math.round(pollMs)}ms`;
  return html`data-live-on="${runId}" hx-get="${url}" hx-trigger="${trigger}" hx-swap="${swap}"`;
}
