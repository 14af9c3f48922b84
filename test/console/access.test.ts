/**
 * Console access rules without a socket or NATS: a console bound beyond localhost needs a token
 * and shows nothing without it; steering needs the console's own header; a loopback console
 * refuses foreign Host headers (DNS rebinding). The API client is a stub that records calls.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createConsoleApp, startConsole } from "../../console/server.js";
import type { LiveEvents } from "../../console/live-events.js";
import type { ConsoleDeps } from "../../console/deps.js";
import { ValidationError } from "../../src/contract/errors.js";

const TOKEN = "a-console-token-of-32-characters";
const calls: string[] = [];
const run = {
  id: "r1",
  workflowId: "wf",
  status: "RUNNING" as const,
  input: { secret: "<b>customer data</b>" },
  config: {},
  output: null,
  error: null,
  currentGroupIndex: 0,
  priority: 0,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  startedAt: "2026-01-01T00:00:00.000Z",
  completedAt: null,
  traceId: null,
};
const deps = {
  client: {
    listRuns: async () => (calls.push("list"), { runs: [run] }),
    getRun: async () => (calls.push("get"), { run, stages: [], logs: [], annotations: [], artifacts: [], tasks: [] }),
    stats: async () => ({ runs: { PENDING: 0, RUNNING: 1, COMPLETED: 0, FAILED: 0, CANCELLED: 0 }, jobsQueued: 0, service: {} }),
    listWorkers: async () => ({ workers: [] }),
    deadLetters: async () => ({
      deadLetters: [
        {
          id: "o1",
          kind: "event",
          workflowRunId: "r9",
          type: "workflow:completed",
          attempts: 10,
          lastError: "<nats down>",
          createdAt: "2026-01-01T00:00:00.000Z",
          deadLetteredAt: "2026-01-01T00:01:00.000Z",
        },
      ],
    }),
    cancelRun: async (r: { actor?: { id: string } }) => (calls.push(`cancel by ${r.actor?.id}`), { cancelled: true, status: "CANCELLED" }),
  },
  workerControl: async () => {
    throw new Error("not used");
  },
  actor: { kind: "user", id: "alice" },
  pollMs: 30_000,
} as unknown as ConsoleDeps;
const noLive: LiveEvents = { subscribe: () => () => {}, stop: async () => {} };

test("bound beyond localhost, every page needs the token; the login cookie or a bearer header opens them", async () => {
  const app = createConsoleApp(deps, { token: TOKEN, loopbackOnly: false }, noLive).app;
  calls.length = 0;
  for (const path of [
    "/runs",
    "/runs/rows",
    "/runs/counts",
    "/events",
    "/runs/r1",
    "/runs/r1/logs",
    "/runs/r1/live",
    "/workers",
    "/workers/fleet",
  ]) {
    const res = await app.request(path, { headers: { host: "10.0.0.5:4280", "hx-request": "true" } });
    assert.is(res.status, 401, path);
    assert.not.match(await res.text(), /customer data/);
  }
  assert.equal(calls, [], "no API call is made for a client without the token");
  assert.is((await app.request("/runs", { headers: { host: "10.0.0.5" } })).headers.get("location"), "/login");
  assert.is((await app.request("/login?token=wrong-token-wrong-token")).status, 401);

  const login = await app.request(`/login?token=${TOKEN}`);
  const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
  const page = await app.request("/runs/r1", { headers: { host: "10.0.0.5", cookie } });
  assert.is(page.status, 200);
  const body = await page.text();
  assert.match(body, /&lt;b&gt;customer data&lt;\/b&gt;/, "run input is escaped, never markup");
  assert.is((await app.request("/runs", { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
});

test("bound beyond localhost, no route of the console answers a token-less client with data, nor calls the API", async () => {
  // Every API method and worker control records its call: a route that reached the API would show here.
  const reached: string[] = [];
  const recording = new Proxy(
    {},
    {
      get: (_, method) => async () => {
        reached.push(String(method));
        return { runs: [run], run, stages: [], workers: [], deadLetters: [], url: "http://s3.example/secret" };
      },
    },
  );
  const spied = {
    ...deps,
    client: recording,
    workerControl: async () => (reached.push("workerControl"), { ok: true }),
  } as unknown as ConsoleDeps;
  const live: LiveEvents = { subscribe: () => (reached.push("live.subscribe"), () => {}), stop: async () => {} };
  const app = createConsoleApp(spied, { token: TOKEN, loopbackOnly: false }, live).app;
  const routes = app.routes.filter((r) => r.method !== "ALL"); // ALL: the access middleware itself
  const paths = routes.map((r) => `${r.method} ${r.path}`);
  for (const known of [
    "GET /runs",
    "GET /runs/:id",
    "GET /runs/:id/artifact",
    "GET /events",
    "GET /workers",
    "POST /runs/:id/cancel",
    "POST /workers/:id/:op",
  ]) {
    assert.ok(paths.includes(known), `${known} is among the routes checked`);
  }
  const open = new Set(["GET /login", "GET /assets/htmx.min.js", "GET /assets/live.js", "GET /assets/console.css"]);
  for (const route of routes) {
    const path = route.path.replace(":id", "r1").replace(":op", "drain");
    for (const hx of [false, true]) {
      const res = await app.request(`${path}?key=runs/r1/input.bin&run=r1&level=DEBUG`, {
        method: route.method,
        headers: {
          host: "10.0.0.5:4280",
          "x-jetflow-console": "1", // a POST is refused for the missing token, not only for a missing header
          ...(hx ? { "hx-request": "true" } : {}),
          ...(route.method === "POST" ? { "content-type": "application/x-www-form-urlencoded" } : {}),
        },
        ...(route.method === "POST" ? { body: "reason=x&fromStageId=a" } : {}),
      });
      const body = await res.text();
      const what = `${route.method} ${route.path}${hx ? " (htmx)" : ""}`;
      assert.not.match(body, /customer data|s3\.example|r1/, `${what} shows no run data`);
      if (open.has(`${route.method} ${route.path}`)) continue; // the login form and static assets: no data
      if (res.status === 302) assert.is(res.headers.get("location"), "/login", what);
      else assert.is(res.status, 401, what);
    }
  }
  assert.equal(reached, [], "no API call, worker control or live subscription for a client without the token");
});

test("a console bound to every address asks a token-less client over a real socket to sign in", async () => {
  const nc = { request: () => Promise.reject(new Error("no NATS in this test")) } as unknown as Parameters<typeof startConsole>[0];
  const server = await startConsole(nc, { host: "0.0.0.0", port: 0, token: TOKEN });
  try {
    const base = server.url.replace("0.0.0.0", "127.0.0.1");
    const page = await fetch(`${base}/runs`, { redirect: "manual" });
    assert.is(page.status, 302);
    assert.is(page.headers.get("location"), "/login");
    assert.is((await fetch(`${base}/events`, { headers: { "hx-request": "true" } })).status, 401);
    assert.is((await fetch(`${base}/runs`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  } finally {
    await server.stop();
  }
});

test("steering needs the console's own header, and records the console's actor", async () => {
  const app = createConsoleApp(deps, { loopbackOnly: true }, noLive).app;
  calls.length = 0;
  const form = { "content-type": "application/x-www-form-urlencoded", host: "127.0.0.1:4280" };
  const forged = await app.request("/runs/r1/cancel", { method: "POST", headers: form, body: "reason=x" });
  assert.is(forged.status, 403);
  assert.equal(calls, []);
  const ok = await app.request("/runs/r1/cancel", { method: "POST", headers: { ...form, "x-jetflow-console": "1" }, body: "reason=x" });
  assert.is(ok.status, 200);
  assert.equal(calls, ["cancel by alice"]);
});

test("the workers page lists dead letters with their run and last error", async () => {
  const app = createConsoleApp(deps, { loopbackOnly: true }, noLive).app;
  const res = await app.request("/workers", { headers: { host: "127.0.0.1" } });
  const body = await res.text();
  assert.match(body, /data-dead-letter="o1"/);
  assert.match(body, /href="\/runs\/r9"/);
  assert.match(body, /&lt;nats down&gt;/);
});

test("a loopback console refuses a foreign Host header (DNS rebinding)", async () => {
  const app = createConsoleApp(deps, { loopbackOnly: true }, noLive).app;
  assert.is((await app.request("/runs", { headers: { host: "evil.example:4280" } })).status, 403);
  assert.is((await app.request("/runs", { headers: { host: "localhost:4280" } })).status, 200);
});

test("startConsole refuses a non-loopback address without a token, before listening", async () => {
  const nc = { request: () => Promise.reject(new Error("unused")) } as unknown as Parameters<typeof startConsole>[0];
  try {
    await startConsole(nc, { host: "0.0.0.0", port: 0 });
    assert.unreachable("started without a token");
  } catch (e) {
    assert.instance(e, ValidationError);
    assert.match((e as Error).message + JSON.stringify((e as ValidationError).issues), /token/);
  }
});

test.run();
