import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { IdempotencyInProgressError, ValidationError, WorkflowNotFoundError } from "../../src/contract/errors.js";
import { makeEnv, stage, workflow } from "./support/harness.js";

const greet = stage({
  id: "greet",
  input: z.object({ email: z.string().email() }),
  config: z.object({ loud: z.boolean().default(false) }),
  output: z.object({ text: z.string() }),
  execute: async (ctx) => ({ output: { text: ctx.config.loud ? ctx.input.email.toUpperCase() : ctx.input.email } }),
});
const wf = () => workflow("greet", [greet], { input: z.object({ email: z.string().email() }) });

test("run.create stores a PENDING run with validated, defaulted config and emits workflow:created", async () => {
  const env = makeEnv([wf()]);
  const r = await env.kernel.dispatch({ type: "run.create", idempotencyKey: "a", workflowId: "greet", input: { email: "a@b.co" } });
  assert.is(r.created, true);
  assert.is(r.status, "PENDING");
  const view = await env.kernel.runs.get(r.workflowRunId);
  assert.equal(view?.run.config, { greet: { loud: false } });
  assert.is(view?.run.currentGroupIndex, -1);
  assert.equal(env.sink.types(), ["workflow:created"]);
});

test("same idempotency key twice returns one run, replayed with created:false", async () => {
  const env = makeEnv([wf()]);
  const cmd = { type: "run.create", idempotencyKey: "same", workflowId: "greet", input: { email: "a@b.co" } } as const;
  const a = await env.kernel.dispatch(cmd);
  const b = await env.kernel.dispatch(cmd);
  assert.is(b.workflowRunId, a.workflowRunId);
  assert.is(b.created, false);
  assert.is((await env.kernel.runs.list({})).length, 1);
});

test("concurrent dispatches with the same key create one run; the others replay it", async () => {
  const env = makeEnv([wf()]);
  const cmd = { type: "run.create", idempotencyKey: "race", workflowId: "greet", input: { email: "a@b.co" } } as const;
  const all = await Promise.all(Array.from({ length: 6 }, () => env.kernel.dispatch(cmd)));
  assert.is(new Set(all.map((r) => r.workflowRunId)).size, 1);
  assert.is(all.filter((r) => r.created).length, 1);
  assert.is((await env.kernel.runs.list({})).length, 1);
});

test("a key held IN_PROGRESS (older dispatcher) raises IdempotencyInProgressError until idempotencyStaleMs passed", async () => {
  const env = makeEnv([wf()], { options: { idempotencyStaleMs: 90_000 } });
  await env.persistence.acquireIdempotencyKey("run.create", "held", env.clock.now());
  const cmd = { type: "run.create", idempotencyKey: "held", workflowId: "greet", input: { email: "a@b.co" } } as const;
  try {
    await env.kernel.dispatch(cmd);
    assert.unreachable("a fresh IN_PROGRESS key must not be taken");
  } catch (err) {
    assert.instance(err, IdempotencyInProgressError);
    assert.is((err as IdempotencyInProgressError).code, "IDEMPOTENCY_IN_PROGRESS");
  }
  assert.is((await env.kernel.runs.list({})).length, 0);
  env.clock.advance(90_001);
  const r = await env.kernel.dispatch(cmd);
  assert.is(r.created, true);
  assert.is((await env.kernel.dispatch(cmd)).workflowRunId, r.workflowRunId, "the taken-over key now maps to the run");
});

test("invalid input is rejected with a ValidationError naming the field", async () => {
  const env = makeEnv([wf()]);
  try {
    await env.kernel.dispatch({ type: "run.create", idempotencyKey: "x", workflowId: "greet", input: { email: "nope" } });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ValidationError);
    assert.match((err as Error).message, /input\.email: Invalid email/);
    assert.equal((err as ValidationError).issues[0]?.path, "input.email");
  }
  assert.is((await env.kernel.runs.list({})).length, 0);
});

test("invalid config is rejected naming the stage and field; the key stays usable", async () => {
  const env = makeEnv([wf()]);
  const base = { type: "run.create", idempotencyKey: "cfg", workflowId: "greet", input: { email: "a@b.co" } } as const;
  try {
    await env.kernel.dispatch({ ...base, config: { greet: { loud: "yes" } } });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ValidationError);
    assert.match((err as Error).message, /config\.greet\.loud/);
  }
  const ok = await env.kernel.dispatch({ ...base, config: { greet: { loud: true } } });
  assert.is(ok.created, true);
});

test("unknown workflow raises WorkflowNotFoundError", async () => {
  const env = makeEnv([wf()]);
  try {
    await env.kernel.dispatch({ type: "run.create", idempotencyKey: "x", workflowId: "nope", input: {} });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, WorkflowNotFoundError);
    assert.is((err as WorkflowNotFoundError).code, "WORKFLOW_NOT_FOUND");
  }
});

test("annotations given at creation are stored with the default system actor", async () => {
  const env = makeEnv([wf()]);
  const id = await env.create(
    "greet",
    { email: "a@b.co" },
    {
      annotations: [
        { attributes: { "trigger.source": "webhook" } },
        { actor: { kind: "user", id: "alice" }, attributes: { "trigger.reason": "manual" } },
      ],
    },
  );
  const all = await env.kernel.annotations.list(id);
  assert.equal(all.map((a) => [a.key, a.actor.id]).sort(), [
    ["trigger.reason", "alice"],
    ["trigger.source", "jetflow"],
  ]);
  assert.is(all.find((a) => a.key === "trigger.source")?.actor.kind, "system");
});

test("run.claimPending starts group 0 and enqueues attempt-1 jobs with deterministic ids", async () => {
  const env = makeEnv([wf()]);
  const id = await env.create("greet", { email: "a@b.co" });
  const r = await env.kernel.dispatch({ type: "run.claimPending", workerId: "w1" });
  assert.equal(r.claimed, [{ workflowRunId: id, workflowId: "greet", jobIds: [`${id}:greet:1`] }]);
  assert.equal(
    env.queue.jobs.map((j) => j.jobId),
    [`${id}:greet:1`],
  );
  const view = await env.kernel.runs.get(id);
  assert.is(view?.run.status, "RUNNING");
  assert.is(view?.run.currentGroupIndex, 0);
  assert.is(view?.stages[0]?.status, "PENDING");
  assert.ok(env.sink.types(id).includes("workflow:started"));
});

test("a claimed run whose workflow is no longer registered fails clearly without blocking others", async () => {
  const good = wf();
  const ghostWf = workflow("gone", [greet]);
  const reg = new Map([
    ["greet", good],
    ["gone", ghostWf],
  ]);
  const env = makeEnv([], { registry: { getWorkflow: (id) => reg.get(id) } });
  const bad = await env.create("gone", { email: "a@b.co" });
  const ok = await env.create("greet", { email: "a@b.co" });
  reg.delete("gone");
  const r = await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  assert.equal(
    r.claimed.map((c) => c.workflowRunId),
    [ok],
  );
  const failed = await env.kernel.runs.get(bad);
  assert.is(failed?.run.status, "FAILED");
  assert.match(failed?.run.error ?? "", /workflow "gone" is not registered/);
});

test.run();
