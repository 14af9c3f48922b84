import { test } from "uvu";
import * as assert from "uvu/assert";
import { ValidationError } from "../../src/contract/errors.js";
import { createPluginRunner, definePlugin } from "../../src/kernel/plugins-runtime.js";
import type { WorkflowEvent } from "../../src/ports/index.js";
import { makeEnv, stage, workflow } from "./support/harness.js";

const one = () => workflow("wf", [stage({ id: "s", execute: async () => ({ output: 1 }) })]);

test("a fast-path failure is logged, not thrown; outbox.flush then delivers each event exactly once", async () => {
  const warnings: string[] = [];
  const logger = {
    debug() {},
    info() {},
    error() {},
    warn: (_o: object, m?: string) => {
      warnings.push(m ?? "");
    },
  };
  const env = makeEnv([one()], { logger });
  env.sink.failures = 1;
  const id = await env.create("wf", {});
  assert.is(env.sink.events.length, 0);
  assert.equal(warnings, ["outbox delivery failed"]);
  const flushed = await env.kernel.dispatch({ type: "outbox.flush" });
  assert.equal(flushed, { published: 1, failed: 0, deadLettered: 0 });
  const again = await env.kernel.dispatch({ type: "outbox.flush" });
  assert.is(again.published, 0);
  assert.equal(env.sink.types(id), ["workflow:created"]);
});

test("rows left by a crash after commit stay claimed by their writer, then a flusher delivers them", async () => {
  const env = makeEnv([one()], { options: { outboxClaimMs: 5000 } });
  // Simulate a crash between commit and fast path: delivery hangs up, nothing is recorded.
  const realMark = env.persistence.markOutboxPublished.bind(env.persistence);
  const realPublish = env.sink.publish.bind(env.sink);
  env.sink.publish = async () => {
    throw new Error("process died");
  };
  env.persistence.markOutboxFailed = async () => {
    throw new Error("process died");
  };
  const id = await env.create("wf", {});
  env.sink.publish = realPublish;
  env.persistence.markOutboxPublished = realMark;
  assert.is((await env.kernel.dispatch({ type: "outbox.flush" })).published, 0, "writer's claim still holds");
  env.clock.advance(5000);
  assert.is((await env.kernel.dispatch({ type: "outbox.flush" })).published, 1);
  assert.equal(env.sink.types(id), ["workflow:created"]);
});

test("job rows failing on the fast path reach the transport on flush", async () => {
  const env = makeEnv([one()]);
  const id = await env.create("wf", {});
  const realEnqueue = env.queue.enqueue.bind(env.queue);
  env.queue.enqueue = async () => {
    throw new Error("nats down");
  };
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  assert.is(env.queue.jobs.length, 0);
  env.queue.enqueue = realEnqueue;
  await env.kernel.dispatch({ type: "outbox.flush" });
  assert.equal(
    env.queue.jobs.map((j) => j.jobId),
    [`${id}:s:1`],
  );
  await env.drain();
  assert.is((await env.kernel.runs.get(id))!.run.status, "COMPLETED");
});

test("a persistently failing plugin dead-letters its event; plugin.replayDLQ redelivers it", async () => {
  let broken = true;
  const got: string[] = [];
  const plugin = definePlugin({
    id: "audit",
    name: "Audit",
    on: ["workflow:created"],
    handle: async (e) => {
      if (broken) throw new Error("audit db down");
      got.push(e.type);
    },
  });
  const env = makeEnv([one()], { plugins: [plugin], options: { outboxMaxAttempts: 3 } });
  await env.create("wf", {});
  let f = await env.kernel.dispatch({ type: "outbox.flush" });
  assert.equal(f, { published: 0, failed: 1, deadLettered: 0 });
  f = await env.kernel.dispatch({ type: "outbox.flush" });
  assert.equal(f, { published: 0, failed: 1, deadLettered: 1 });
  assert.is((await env.persistence.listDeadLetters(10)).length, 1);
  assert.is((await env.kernel.dispatch({ type: "outbox.flush" })).failed, 0, "dead letters are not retried");
  broken = false;
  const r = await env.kernel.dispatch({ type: "plugin.replayDLQ" });
  assert.is(r.replayed, 1);
  assert.equal(got, ["workflow:created"]);
  assert.is((await env.persistence.listDeadLetters(10)).length, 0);
});

test("definePlugin rejects unknown event types and missing fields", () => {
  assert.throws(
    () => definePlugin({ id: "p", name: "P", on: ["workflow:finished" as never], handle: async () => {} }),
    (e: Error) => e instanceof ValidationError && /on\.0: unknown event type "workflow:finished"/.test(e.message),
  );
  assert.throws(
    () => definePlugin({ id: "", name: "P", on: "*", handle: async () => {} }),
    (e: Error) => e instanceof ValidationError && /id: must be/.test(e.message),
  );
});

test("the plugin runner delivers to every matching plugin even when one throws, then reports the failure", async () => {
  const seen: string[] = [];
  const runner = createPluginRunner({
    plugins: [
      {
        id: "a",
        name: "A",
        on: "*",
        handle: async () => {
          throw new Error("nope");
        },
      },
      {
        id: "b",
        name: "B",
        on: ["stage:completed"],
        handle: async (e) => {
          seen.push(`b:${e.type}`);
        },
      },
      {
        id: "c",
        name: "C",
        on: ["workflow:failed"],
        handle: async (e) => {
          seen.push(`c:${e.type}`);
        },
      },
    ],
  });
  const ev: WorkflowEvent = { id: "1", type: "stage:completed", workflowRunId: "r", workflowId: "w", timestamp: "", data: {} };
  const err = await runner.publish(ev).then(
    () => null,
    (e: Error) => e,
  );
  assert.match(err?.message ?? "", /plugin "a": nope/);
  assert.equal(seen, ["b:stage:completed"]);
});

test.run();
