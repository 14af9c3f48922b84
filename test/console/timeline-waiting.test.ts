// The run page's stage timeline shows why a parked stage waits, next to the stage's status.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { RunGetReply } from "../../src/contract/api-messages.js";
import { timeline } from "../../console/timeline.js";

const at = "2026-01-01T00:00:00.000Z";
const view = RunGetReply.parse({
  run: {
    id: "r1",
    workflowId: "w",
    status: "RUNNING",
    input: { tenantId: "t1" },
    config: {},
    output: null,
    error: null,
    currentGroupIndex: 0,
    priority: 0,
    createdAt: at,
    updatedAt: at,
    startedAt: at,
    completedAt: null,
  },
  stages: ["render", "notify"].map((stageId) => ({
    stageId,
    stageName: stageId,
    groupIndex: 0,
    status: "PENDING",
    attempt: 0,
    maxAttempts: 3,
    error: null,
    nextPollAt: null,
    startedAt: null,
    completedAt: null,
  })),
  waiting: [
    {
      stageId: "render",
      reason: "concurrency",
      detail: 'concurrency key "t1" of "queue:render#concurrency" full: 2/2 running',
      retryAt: null,
      since: at,
    },
  ],
});

test("a waiting stage's lane carries its reason; the other lane none", async () => {
  const out = String(await timeline(view, Date.parse(at) + 1000));
  const render = out.slice(out.indexOf('data-stage="render"'), out.indexOf('data-stage="notify"'));
  assert.match(render, 'data-waiting="concurrency"');
  assert.match(render, "concurrency key &quot;t1&quot; of &quot;queue:render#concurrency&quot; full: 2/2 running");
  assert.not.match(out.slice(out.indexOf('data-stage="notify"')), "data-waiting");
});

test("a SUSPENDED stage whose remote task finds no worker shows that reason in its lane", async () => {
  const remote = RunGetReply.parse({
    ...view,
    stages: view.stages.map((s) => (s.stageId === "notify" ? { ...s, status: "SUSPENDED" } : s)),
    waiting: [
      ...view.waiting!,
      {
        stageId: "notify",
        reason: "no-worker",
        detail: 'no live worker of queue "q" version "v1" has the labels gpu=true (2 live worker(s) lack them)',
        retryAt: null,
        since: at,
      },
    ],
  });
  const out = String(await timeline(remote, Date.parse(at) + 1000));
  const notify = out.slice(out.indexOf('data-stage="notify"'));
  assert.match(notify, 'data-waiting="no-worker"');
  assert.match(notify, "has the labels gpu=true (2 live worker(s) lack them)");
});

test.run();
