// Hostile input to the submission API over real NATS and Postgres: CR/LF and other header-illegal
// characters never crash the service (the error header is sanitised, the body carries the
// detail), values Postgres cannot hold get 400 VALIDATION naming the field and the limit, a
// database outage answers 503 UNAVAILABLE without host, port or SQL text, and an unexpected error
// answers 500 with a correlation id that the server logged with the full error.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import postgres from "postgres";
import { freePort, portRefuses, services } from "../harness/index.js";
import { startApiService, type ApiService } from "../../adapters/jetstream/api/service.js";
import { ApiError, createJetflowClient } from "../../adapters/jetstream/api/client.js";
import { createPostgresPersistence } from "../../adapters/postgres/persistence.js";
import { createKernel, defineStage, WorkflowBuilder, type Kernel } from "../../src/index.js";
import { JetflowError } from "../../src/contract/errors.js";
import { CollectingEventSink, FakeClock, InMemoryBlobStore, InMemoryJobQueue, NoopScheduler } from "../../src/testing/index.js";
import { client as pgClient, migratedSchema } from "../postgres/helpers.js";

const svc = await services(["nats", "postgres"]);
const t = svc ? test : test.skip;

const echo = defineStage({
  id: "echo",
  name: "Echo",
  schemas: { input: z.object({ text: z.string() }), output: z.object({ text: z.string() }), config: z.object({}) },
  async execute(ctx) {
    return { output: { text: ctx.input.text } };
  },
});
const workflow = new WorkflowBuilder("echo", "Echo", "echoes", z.object({ text: z.string() }), z.object({ text: z.string() }))
  .pipe(echo)
  .build();

const unhandled: unknown[] = [];
process.on("unhandledRejection", (e) => void unhandled.push(e));

interface Logged {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}
const logged: Logged[] = [];
const log = (level: string) => (obj: Record<string, unknown>, msg?: string) => void logged.push({ level, obj, msg: msg ?? "" });
const logger = { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };

let nc: NatsConnection;
let sql: postgres.Sql;
let deadSql: postgres.Sql;
let drop: () => Promise<void>;
let deadPort = 0;
const services_: ApiService[] = [];

function kernelOn(db: postgres.Sql, schema: string): Kernel {
  return createKernel({
    persistence: createPostgresPersistence(db, { schema }),
    blobStore: new InMemoryBlobStore(),
    jobTransport: new InMemoryJobQueue(),
    eventSink: new CollectingEventSink(),
    scheduler: new NoopScheduler(),
    clock: new FakeClock(),
    registry: { getWorkflow: (id) => (id === workflow.id ? workflow : undefined) },
  });
}

test.before(async () => {
  if (!svc) return;
  nc = await connect({ servers: svc.nats.url });
  sql = pgClient(svc.postgres.url);
  const m = await migratedSchema(sql);
  drop = m.drop;
  services_.push(await startApiService(nc, { kernel: kernelOn(sql, m.schema), prefix: "pg", logger }));
  // A database that is down: nothing listens on this port.
  const port = (deadPort = await freePort());
  assert.ok(await portRefuses("127.0.0.1", port));
  deadSql = postgres({ host: "127.0.0.1", port, user: "postgres", database: "nowhere", connect_timeout: 2, max: 1, onnotice: () => {} });
  services_.push(await startApiService(nc, { kernel: kernelOn(deadSql, m.schema), prefix: "down", logger }));
  // A kernel whose failures echo CR/LF and that fails unexpectedly.
  const raw = kernelOn(sql, m.schema);
  const weird: Kernel = {
    ...raw,
    runs: {
      ...raw.runs,
      get: async (id: string) => {
        if (id === "crlf") throw new JetflowError("INVALID_STATE", "first line\r\nNats-Injected: yes\r\n\u0000end");
        throw new TypeError("secret internals at /srv/db 10.1.2.3:5432");
      },
    },
  };
  services_.push(await startApiService(nc, { kernel: weird, prefix: "weird", logger }));
});

test.after(async () => {
  for (const s of services_) await s.stop();
  await nc?.close();
  await deadSql?.end({ timeout: 1 });
  await drop?.();
  await sql?.end({ timeout: 5 });
  await svc?.stop();
});

async function expectApiError(p: Promise<unknown>, code: string, status: number): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, ApiError, String(e));
    const err = e as ApiError;
    assert.is(err.code, code, err.message);
    assert.is(err.status, status, err.message);
    return err;
  }
  throw new Error(`expected an ${code} error`);
}

const api = (prefix: string) => createJetflowClient(nc, { prefix, timeoutMs: 10_000 });

t("CR/LF in a body, an id or an error message gets an answer with a sanitised header; nothing goes unhandled", async () => {
  const raw = async (subject: string, body: string) => {
    const m = await nc.request(subject, body, { timeout: 5_000 });
    const header = m.headers?.get("Nats-Service-Error") ?? "";
    assert.not.match(header, /[\r\n\u0000]/);
    return { status: m.headers?.get("Nats-Service-Error-Code"), header, body: JSON.parse(m.string()) };
  };
  const bad = await raw("pg.api.runs.create", "oops\n");
  assert.is(bad.status, "400");
  assert.is(bad.body.error.code, "VALIDATION");
  assert.match(bad.body.error.message, /not valid JSON/);

  const id = await raw("pg.api.runs.get", JSON.stringify({ workflowRunId: "a\nb" }));
  assert.is(id.status, "400");
  assert.ok(id.body.error.issues.some((i: { path: string }) => i.path === "workflowRunId"));

  const wf = await raw("pg.api.runs.create", JSON.stringify({ workflowId: "x\r\ny", input: { text: "t" }, idempotencyKey: "k" }));
  assert.is(wf.status, "400");

  const echoed = await raw("weird.api.runs.get", JSON.stringify({ workflowRunId: "crlf" }));
  assert.is(echoed.status, "409");
  assert.match(echoed.header, /^INVALID_STATE: first line Nats-Injected: yes end$/);
  assert.is(echoed.body.error.message, "first line\r\nNats-Injected: yes\r\n\u0000end", "the body keeps the full message");

  assert.equal(unhandled, []);
  assert.is((await api("pg").stats()).service.name, "jetflow", "the service still answers");
});

t("values Postgres cannot hold get 400 VALIDATION naming the field and the limit", async () => {
  const c = api("pg");
  const base = { workflowId: "echo", input: { text: "ok" }, idempotencyKey: "k-base" };
  const cases: [request: Record<string, unknown>, path: string, why: RegExp][] = [
    [{ ...base, priority: 2 ** 31 }, "priority", /2147483647/],
    [{ ...base, priority: -(2 ** 31) - 1 }, "priority", /-2147483648/],
    [{ ...base, input: { text: "a\u0000b" } }, "input.text", /U\+0000/],
    [{ ...base, input: { text: "\ud800" } }, "input.text", /surrogate/],
    [{ ...base, config: { echo: { ["k\u0000"]: 1 } } }, "config.echo.k\u0000", /U\+0000/],
    [{ ...base, idempotencyKey: "k\u0000" }, "idempotencyKey", /U\+0000/],
    [{ ...base, idempotencyKey: "k".repeat(201) }, "idempotencyKey", /200/],
    [{ ...base, annotations: [{ attributes: { a: "\udfff" } }] }, "annotations.0.attributes.a", /surrogate/],
  ];
  for (const [request, path, why] of cases) {
    const err = await expectApiError(c.call("runs.create", request as never), "VALIDATION", 400);
    const issue = err.issues.find((i) => i.path === path);
    assert.ok(issue, `${path}: ${JSON.stringify(err.issues)}`);
    assert.match(issue!.message, why, path);
  }
  await expectApiError(c.call("runs.list", { createdBefore: "0000-01-01T00:00:00Z" }), "VALIDATION", 400);
  await expectApiError(c.call("runs.cancel", { workflowRunId: "r", reason: "x\u0000" }), "VALIDATION", 400);
  // The limits themselves are accepted.
  const ok = await c.createRun({ ...base, priority: 2 ** 31 - 1, idempotencyKey: "k-max" });
  assert.is(ok.created, true);
  assert.is((await c.getRun({ workflowRunId: ok.workflowRunId })).run.priority, 2 ** 31 - 1);
});

t("a database outage answers 503 UNAVAILABLE without host, port or SQL; the server logs the full error", async () => {
  logged.length = 0;
  const err = await expectApiError(api("down").getRun({ workflowRunId: "r-1" }), "UNAVAILABLE", 503);
  assert.ok(err.retryable);
  assert.not.match(err.message, /127\.0\.0\.1|ECONNREFUSED|nowhere|select/i);
  assert.not.ok(err.message.replace(err.correlationId ?? "", "").includes(String(deadPort)), err.message);
  assert.ok(err.correlationId);
  assert.ok(err.message.includes(err.correlationId!));
  const line = logged.find((l) => l.obj.correlationId === err.correlationId);
  assert.ok(line, "logged under the correlation id");
  assert.match(String(line!.obj.err), /ECONNREFUSED|connect/);
});

t("an unexpected error answers 500 with a generic message and a correlation id logged server-side", async () => {
  logged.length = 0;
  const err = await expectApiError(api("weird").getRun({ workflowRunId: "boom" }), "INTERNAL", 500);
  assert.not.match(err.message, /secret|10\.1\.2\.3|5432/);
  assert.ok(err.correlationId);
  const line = logged.find((l) => l.obj.correlationId === err.correlationId);
  assert.ok(line);
  assert.match(String(line!.obj.err), /secret internals/);
  assert.equal(unhandled, []);
});

test.run();
