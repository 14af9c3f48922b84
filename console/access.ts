/**
 * Who may use the console. Bound to a loopback address it is open to the local user (the Host
 * header must name a loopback host, so a web page cannot reach it through DNS rebinding). Bound
 * anywhere else it refuses to start without a token, and then every page, partial and action
 * requires it: as `Authorization: Bearer <token>` or as the cookie set by `/login?token=...`.
 * Every POST also needs the `X-Jetflow-Console` header that the console's own pages send (htmx
 * `hx-headers`): a cross-site form cannot set it, so another site cannot steer runs through the
 * operator's browser.
 */
import { timingSafeEqual } from "node:crypto";
import type { Hono, MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { html } from "hono/html";
import { layout } from "./html.js";

const COOKIE = "jetflow_console_token";
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function sameSecret(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The Host header without its port (`[::1]:8080` → `[::1]`). */
function hostName(header: string | undefined): string {
  if (!header) return "";
  return header.startsWith("[") ? header.slice(0, header.indexOf("]") + 1) : header.split(":")[0]!;
}

/** Mounts `/login` and the access checks in front of every other route. */
export function mountAccess(app: Hono, opts: { token?: string; loopbackOnly: boolean }): void {
  const { token } = opts;
  if (token) {
    app.get("/login", (c) => {
      if (!sameSecret(c.req.query("token"), token)) {
        const form = html`<h1>Console token</h1>
          <form method="get" action="/login"><input type="password" name="token" autofocus /> <button>Open</button></form>`;
        return c.html(layout("Sign in", form), c.req.query("token") === undefined ? 200 : 401);
      }
      setCookie(c, COOKIE, token, { httpOnly: true, sameSite: "Strict", path: "/" });
      return c.redirect("/runs");
    });
  }
  const guard: MiddlewareHandler = async (c, next) => {
    if (opts.loopbackOnly && !isLoopback(hostName(c.req.header("host")))) return c.text("forbidden host", 403);
    if (token) {
      const bearer = c.req.header("authorization")?.replace(/^Bearer\s+/i, "");
      if (!sameSecret(bearer, token) && !sameSecret(getCookie(c, COOKIE), token)) {
        if (c.req.method === "GET" && c.req.header("hx-request") !== "true") return c.redirect("/login");
        return c.text("a console token is required", 401);
      }
    }
    if (c.req.method !== "GET" && c.req.method !== "HEAD" && c.req.header("x-jetflow-console") !== "1") {
      return c.text("steering requests must come from the console's own pages", 403);
    }
    await next();
  };
  app.use("*", async (c, next) => (c.req.path === "/login" || c.req.path.startsWith("/assets/") ? next() : guard(c, next)));
}
