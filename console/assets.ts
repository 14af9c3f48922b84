/**
 * Static assets served by the console itself (no CDN: it works offline): htmx from the installed
 * `htmx.org` package, the live-update script and the stylesheet (a module, so the build needs no copy step). Read once at start-up.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Hono } from "hono";
import { LIVE_SCRIPT } from "./live-script.js";
import { CONSOLE_CSS } from "./styles.js";

/** Mounts `/assets/htmx.min.js`, `/assets/live.js` and `/assets/console.css` (cacheable for an hour). */
export function mountAssets(app: Hono): void {
  const htmx = readFileSync(createRequire(import.meta.url).resolve("htmx.org/dist/htmx.min.js"), "utf8");
  const css = CONSOLE_CSS;
  const cache = "public, max-age=3600";
  app.get("/assets/htmx.min.js", (c) => c.body(htmx, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": cache }));
  app.get("/assets/live.js", (c) => c.body(LIVE_SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": cache }));
  app.get("/assets/console.css", (c) => c.body(css, 200, { "content-type": "text/css; charset=utf-8", "cache-control": cache }));
}
