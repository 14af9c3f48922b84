// The submission API over a real nats-server: discovery, typed replies, coded errors, and a
// service that keeps serving after bad requests. Kernel state is in memory here; the
// Postgres-backed orchestrator is exercised in integration/orchestrator.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { Svcm } from "@nats-io/services";
import { z } from "zod";
import { services } from "../harness/index.js";
import { startApiService } from "../../adapters/jetstream/api/service.js";
import type { ApiService } from "../../adapters/jetstream/api/service.js";
import { ApiError, createJetflowClient } from "../../adapters/jetstream/api/client.js";
import { createKernel, defineStage, WorkflowBuilder } from "../../src/index.js";
import type { Kernel } from "../../src/index.js";
import {
  CollectingEventSink,
  FakeClock,
  InMemoryBlobStore,
  InMemoryJobQueue,
  InMemoryPersistence,
  NoopScheduler,
} from "../../src/testing/index.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;

const greet = defineStage({
  id: "greet",
  name: "Greet",
  schemas: {
    input: z.object({ name: z.string().min(1), email: z.string().email() }),
    output: z.object({ greeting: z.string() }),
    config: z.object({ punctuation: z.string().default("!") }),
  },
  async execute(ctx) {
    return { output: { greeting: `hello ${ctx.input.name}${ctx.config.punctuation}` } };
  },
});
const workflow = new WorkflowBuilder(
  "greeter",
  "Greeter",
  "greets",
  z.object({ name: z.string().min(1), email: z.string().email() }),
  z.object({ greeting: z.string() }),
)
  .pipe(greet)
  .build();

// The same stage with a concurrency key of 1 per name: a second run for a name waits.
const limitedGreet = { ...greet, limits: { concurrency: { key: (i: unknown) => (i as { name: string }).name, maxConcurrent: 1 } } };
const limitedWorkflow = new WorkflowBuilder(
  "limited-greeter",
  "Limited greeter",
  "greets one at a time per name",
  z.object({ name: z.string().min(1), email: z.string().email() }),
  z.object({ greeting: z.string() }),
)
  .pipe(limitedGreet)
  .build();

let nc: NatsConnection;
let api: ApiService;
let kernel: Kernel;
let jobs: InMemoryJobQueue;

test.before(async () => {
  if (!svc) return;
  nc = await connect({ servers: svc.nats!.url });
  jobs = new InMemoryJobQueue();
  kernel = createKernel({
    persistence: new InMemoryPersistence(),
    blobStore: new InMemoryBlobStore(),
    jobTransport: jobs,
    eventSink: new CollectingEventSink(),
    scheduler: new NoopScheduler(),
    clock: new FakeClock(),
    registry: { getWorkflow: (id) => [workflow, limitedWorkflow].find((w) => w.id === id) },
  });
  api = await startApiService(nc, { kernel, jobTransport: jobs, prefix: "jetflow" });
});

test.after(async () => {
  await api?.stop();
  await nc?.close();
  await svc?.stop();
});

const client = () => createJetflowClient(nc, { timeoutMs: 5_000 });

async function expectApiError(p: Promise<unknown>, code: string, status: number): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, ApiError);
    const err = e as ApiError;
    assert.is(err.code, code, err.message);
    assert.is(err.status, status);
    return err;
  }
  throw new Error(`expected an ${code} error`);
}

t("the service is discoverable with $SRV.PING and INFO lists every endpoint subject", async () => {
  const monitor = new Svcm(nc as never).client();
  const pings = [];
  for await (const p of await monitor.ping("jetflow")) pings.push(p);
  assert.is(pings.length, 1);
  const subjects: string[] = [];
  for await (const info of await monitor.info("jetflow")) subjects.push(...info.endpoints.map((e) => e.subject));
  for (const s of ["runs.create", "runs.get", "runs.list", "runs.cancel", "runs.rerun", "runs.annotate", "stats"]) {
    assert.ok(subjects.includes(`jetflow.api.${s}`), `missing ${s}`);
  }
});

t("runs.get says why a stage waits: its concurrency key is full", async () => {
  const input = { name: "grace", email: "grace@example.com" };
  const a = await client().createRun({ workflowId: "limited-greeter", input, idempotencyKey: "lim-a" });
  const b = await client().createRun({ workflowId: "limited-greeter", input, idempotencyKey: "lim-b" });
  await kernel.dispatch({ type: "run.claimPending", workerId: "t", maxClaims: 10 });
  const views = await Promise.all([a, b].map((r) => client().getRun({ workflowRunId: r.workflowRunId })));
  const waiting = views.flatMap((v) => v.waiting ?? []);
  assert.is(waiting.length, 1, "one holds the slot, the other waits");
  assert.is(waiting[0]!.stageId, "greet");
  assert.is(waiting[0]!.reason, "concurrency");
  assert.match(waiting[0]!.detail, 'concurrency key "grace" of "stage:limited-greeter/greet#concurrency" full: 1/1 running');
  assert.is(waiting[0]!.retryAt, null);
});

t("runs.create returns a run; the same idempotency key returns the same run", async () => {
  const req = { workflowId: "greeter", input: { name: "ada", email: "ada@example.com" }, idempotencyKey: "k-same" };
  const first = await client().createRun(req);
  const again = await client().createRun(req);
  assert.is(first.created, true);
  assert.is(again.created, false);
  assert.is(again.workflowRunId, first.workflowRunId);
  const view = await client().getRun({ workflowRunId: first.workflowRunId });
  assert.is(view.run.workflowId, "greeter");
  assert.is(view.run.status, "PENDING");
  assert.equal(view.run.input, req.input);
  assert.equal(view.run.config, { greet: { punctuation: "!" } });
});

t("malformed JSON gets a VALIDATION error with status 400 in the service headers", async () => {
  const msg = await nc.request("jetflow.api.runs.create", "{not json", { timeout: 5_000 });
  assert.is(msg.headers?.get("Nats-Service-Error-Code"), "400");
  const body = JSON.parse(msg.string());
  assert.is(body.error.code, "VALIDATION");
  assert.match(body.error.message, /not valid JSON/);
});

t("a missing idempotency key is rejected naming the field", async () => {
  const err = await expectApiError(client().call("runs.create", { workflowId: "greeter", input: {} } as never), "VALIDATION", 400);
  assert.ok(
    err.issues.some((i) => i.path === "idempotencyKey"),
    JSON.stringify(err.issues),
  );
});

t("an unknown workflow id gets WORKFLOW_NOT_FOUND (404)", async () => {
  const err = await expectApiError(
    client().createRun({ workflowId: "nope", input: {}, idempotencyKey: "k-nope" }),
    "WORKFLOW_NOT_FOUND",
    404,
  );
  assert.match(err.message, /nope/);
});

t("input that fails the workflow schema is rejected naming the field", async () => {
  const err = await expectApiError(
    client().createRun({ workflowId: "greeter", input: { name: "x", email: "not-an-email" }, idempotencyKey: "k-bad" }),
    "VALIDATION",
    400,
  );
  assert.match(err.message, /email/);
});

t("unknown run ids get RUN_NOT_FOUND on get, cancel and annotate", async () => {
  await expectApiError(client().getRun({ workflowRunId: "missing" }), "RUN_NOT_FOUND", 404);
  await expectApiError(client().annotate({ workflowRunId: "missing", attributes: { a: 1 } }), "RUN_NOT_FOUND", 404);
});

t("the service keeps serving after a burst of bad requests", async () => {
  await Promise.all(Array.from({ length: 20 }, (_, i) => nc.request("jetflow.api.runs.get", i % 2 ? "[]" : "{{", { timeout: 5_000 })));
  const stats = await client().stats();
  assert.ok(stats.runs.PENDING >= 1);
  assert.is(stats.service.name, "jetflow");
});

t("cancel, annotate and list round-trip through the API", async () => {
  const { workflowRunId } = await client().createRun({
    workflowId: "greeter",
    input: { name: "bob", email: "bob@example.com" },
    idempotencyKey: "k-cancel",
  });
  const annotated = await client().annotate({
    workflowRunId,
    attributes: { "review.disposition": "approved" },
    actor: { kind: "user", id: "alice" },
  });
  assert.is(annotated.inserted, 1);
  const listed = await kernel.annotations.list(workflowRunId, { keyPrefix: "review." });
  assert.is(listed.length, 1);
  assert.is(listed[0]!.actor.id, "alice");
  const cancelled = await client().cancelRun({ workflowRunId, reason: "test" });
  assert.equal(cancelled, { cancelled: true, status: "CANCELLED" });
  const again = await client().cancelRun({ workflowRunId });
  assert.is(again.cancelled, false);
  const list = await client().listRuns({ status: ["CANCELLED"] });
  assert.ok(list.runs.some((r) => r.id === workflowRunId));
});

test.run();
